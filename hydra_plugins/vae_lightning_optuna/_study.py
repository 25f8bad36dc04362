"""The study behind `hydra/sweeper=optuna`: its storage, search space and checks, and the loop that asks
Optuna's ask-and-tell interface for trials, runs them with the sweep's launcher and tells their outcome."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import optuna
# hydra.core.*: the sweeper plugin API, as Hydra's own sweepers use it (the override grammar's types,
# the launcher built from the sweep's config, a job's outcome); Hydra exports it nowhere else.
from hydra.core.override_parser.types import IntervalSweep, Override, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from vae_lightning.configs import instantiate_trusted
from vae_lightning.errors import ConfigError
from vae_lightning.files import check_writable, full_disk, write_text
from vae_lightning.harness import sweeps
from vae_lightning.harness.command_line import quoted
from vae_lightning.harness.definition import PROCESSES, run_definition, within
from vae_lightning.harness.runs import pid_holding, read_status
from vae_lightning.paper.module import metric_names

log = logging.getLogger(__name__)

# The storage of a study whose hydra.sweeper.storage is null: a journal file in the sweep folder.
DEFAULT_JOURNAL = "optuna.log"
# The key under which each trial's run gets the callback that reports to the study.
TRIAL_CALLBACK = "callbacks.optuna_trial"
# A trial's user attributes: its run folder, and whether an interrupt cut it (such a trial is failed,
# not counted towards n_trials, and its point asked again by `resume=true`).
FOLDER = "folder"
INTERRUPTED = "interrupted"
# User attributes of a trial asked for again: the number and folder of the trial an interrupt cut.
REPEATS = "repeats"
CUT_FOLDER = "cut_folder"
# A study's user attribute: what defines its trials' runs (harness/definition.py), less the searched keys.
# A command that continues the study must define its trials so too: a study compares runs that differ
# only in what it searches.
DEFINITION = "definition"
SETTINGS = "hydra.sweeper"
# What the trial callback may report to the pruner after each epoch: a metric validation logs.
VALIDATED = tuple(metric_names("val").values())
# A trial's value: its run's val loss (of the best checkpoint), by the name the run logs it under.
OBJECTIVE = metric_names("val")["loss"]
# Optuna's samplers seed numpy, whose seeds are 32-bit.
SEEDS = 2**32
# The statement that takes a database server's own lock at once or not at all (true or 1 when taken),
# held by one connection (a session) and released by the server when that connection ends, however the
# command ends.
SERVER_LOCKS = {"postgresql": "SELECT pg_try_advisory_lock(:key)", "mysql": "SELECT GET_LOCK(:key, 0)",
                "mariadb": "SELECT GET_LOCK(:key, 0)"}
# MySQL closes a connection idle for wait_timeout (8 hours by default), and with it the lock: not the lock's.
KEEP_OPEN = {"mysql": "SET SESSION wait_timeout = 31536000", "mariadb": "SET SESSION wait_timeout = 31536000"}


def storage_address(storage: str | None, sweep_dir: Path) -> str:
    """The study's storage as every process can reach it: relative paths made absolute."""
    if storage is None:
        return str(sweep_dir.resolve() / DEFAULT_JOURNAL)
    storage = str(storage)
    if storage.startswith("sqlite:///"):
        return "sqlite:///" + os.path.abspath(storage.removeprefix("sqlite:///"))
    return storage if "://" in storage else os.path.abspath(storage)


def shown(address: str) -> str:
    """The storage as messages, logs and optimization_results.yaml show it: a database URL's password
    as `***` (each trial's config still holds the URL it connects with: keep passwords in PGPASSWORD,
    ~/.pgpass or MySQL's option files rather than in the URL)."""
    try:
        url = make_url(address) if "://" in address else None
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        url = None
    return address if url is None or url.password is None else url.render_as_string(hide_password=True)


def storage_file(address: str) -> Path | None:
    """The file that holds the study (an SQLite database or a journal), None for a database server."""
    if address.startswith("sqlite:///"):
        # Less the URL's query (`?timeout=60`), which names no other file: with it, the study in the database
        # was not found (and continued without resume=true, unchecked) and the lock beside it was another's.
        return Path(address.removeprefix("sqlite:///").partition("?")[0])
    return None if "://" in address else Path(address)


def open_storage(address: str) -> BaseStorage:
    """An SQLAlchemy URL's database (SQLite, PostgreSQL, MySQL/MariaDB), or else a journal file (Optuna's
    JournalStorage, which suits a shared file system): trials in other processes (hydra/launcher=parallel,
    Slurm) report their val loss to it after every epoch, so that the pruner can stop them."""
    if "://" in address:
        return optuna.storages.RDBStorage(address)
    return JournalStorage(JournalFileBackend(address))


def lock_path(file: Path) -> Path:
    """The search's lock beside the storage file (a journal's own lock, `<file>.lock`, is Optuna's)."""
    return file.with_name(file.name + ".search.lock")


def lock_holder(file: Path) -> int | None:
    """The pid of the search holding the storage file, or None when it is free."""
    return pid_holding(lock_path(file))


def in_use(address: str, holder: str, other: str = "storage") -> ConfigError:
    return ConfigError(f"{SETTINGS}.storage={shown(address)} is in use by another search ({holder}); wait for it "
                       f"to end, or give this search another {other}")


def database_url(address: str) -> URL:
    """The storage's database URL; ConfigError for a database without a lock the sweeper can take, on
    which two searches of one study could not be kept apart."""
    try:
        url = make_url(address)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{SETTINGS}.storage={shown(address)} is neither a file nor a database URL "
                          f"(dialect://user@host/database)") from None
    if url.get_backend_name() not in SERVER_LOCKS:
        raise ConfigError(f"{SETTINGS}.storage={shown(address)} is not supported: a search keeps other searches "
                          f"off its study by a lock, which the sweeper takes on a journal file, an SQLite file "
                          f"(sqlite:///<file>), PostgreSQL or MySQL/MariaDB; use one of these")
    return url


def lock_key(url: URL, study_name: str) -> int | str:
    """The server's lock on the study: the same for the same study in the same database, from any machine."""
    digest = hashlib.sha256(f"vae-lightning search {url.database}/{study_name}".encode()).digest()
    if url.get_backend_name() == "postgresql":
        return int.from_bytes(digest[:8], "big") >> 1  # a positive bigint
    return "vae-lightning search " + digest.hex()[:40]  # MySQL's lock names are server-wide, <= 64 characters


def lock_server(address: str, study_name: str) -> Connection:
    """Take the database server's lock on the study, held by a connection of its own until it is closed
    (or the process ends): one search at a time per study on a server."""
    url = database_url(address)
    backend = url.get_backend_name()
    try:
        # Outside any transaction and pool: the lock lives exactly as long as this connection.
        connection = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT").connect()
        if backend in KEEP_OPEN:
            connection.execute(text(KEEP_OPEN[backend]))
        taken = connection.execute(text(SERVER_LOCKS[backend]), {"key": lock_key(url, study_name)}).scalar()
    except (SQLAlchemyError, ImportError) as error:
        raise ConfigError(f"{SETTINGS}.storage={shown(address)}: cannot use the database: "
                          f"{str(error).strip().splitlines()[0]}") from None
    if not taken:
        connection.close()
        raise in_use(address, f"study {study_name}", f"{SETTINGS}.study_name")
    return connection


def lock_storage(address: str, study_name: str) -> IO[str] | Connection:
    """Take the storage's lock for this command's lifetime (the system, or the database server, releases
    it however the process ends): one search at a time per storage file, or per study on a server."""
    file = storage_file(address)
    if file is None:
        return lock_server(address, study_name)
    file.parent.mkdir(parents=True, exist_ok=True)
    lock = open(lock_path(file), "a+")  # noqa: SIM115 - kept open: closing it would release the lock
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = int(lock.read().strip() or 0)
        lock.close()
        raise in_use(address, f"process {holder}") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def parse(params: list[str]) -> dict[str, Override]:
    """Each key's override; a key given twice keeps its last one (the command line's, after the config's)."""
    return {override.get_key_element(): override for override in sweeps.parse(params)}


def interval_distribution(override: Override) -> BaseDistribution:
    interval = override.value()
    assert isinstance(interval, IntervalSweep)
    low, high, log_scale = interval.start, interval.end, "log" in interval.tags
    if low > high:
        raise ConfigError(f"{override.input_line}: the interval's low end {low} is above its high end {high}; "
                          f"write interval({high}, {low})")
    if log_scale and low <= 0:
        raise ConfigError(f"{override.input_line}: a log scale needs a low end > 0")
    if "int" in interval.tags:  # Hydra reads every interval's ends as floats
        if math.ceil(low) > math.floor(high):  # Optuna's IntDistribution would raise a traceback
            raise ConfigError(f"{override.input_line}: the interval holds no whole number; widen it to hold one, "
                              f"e.g. tag(int, interval({math.floor(low)}, {math.ceil(high)}))")
        return IntDistribution(math.ceil(low), math.floor(high), log=log_scale)
    return FloatDistribution(float(low), float(high), log=log_scale)


def distribution(override: Override) -> BaseDistribution:
    """What Optuna samples for a sweep override: `interval(a, b)` a float (`tag(int, interval(a, b))`
    a whole number), `tag(log, ...)` on a log scale, `choice(...)` and `range(...)` one of their values."""
    if override.is_interval_sweep():
        return interval_distribution(override)
    tags = sorted(getattr(override.value(), "tags", None) or [])
    if tags:  # Optuna's CategoricalDistribution has no scale: the tag would be dropped without a word
        raise ConfigError(f"{override.input_line}: tag({', '.join(tags)}, ...) applies to interval(a, b) alone; a "
                          f"choice or range is sampled from its values as listed")
    choices = list(override.sweep_iterator(transformer=Transformer.encode))
    if not choices:
        raise ConfigError(f"{override.input_line}: no value to choose from")
    return CategoricalDistribution(choices)


def search_space(params: list[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """The sampled keys' distributions, and the fixed overrides every trial gets."""
    space, fixed = {}, []
    for key, override in parse(params).items():
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed


def whole_number(settings: DictConfig, key: str, meaning: str) -> None:
    value = settings.get(key)
    if type(value) is not int or value < 1:
        raise ConfigError(f"{SETTINGS}.{key}={'null' if value is None else value} is out of range: allowed a whole "
                          f"number >= 1 ({meaning})")


def as_container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def build_sampler(settings: DictConfig, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The configured sampler. A study that continues draws new points: its seed moves on by the
    trials the study holds (the same seed would ask for the first points again)."""
    config = as_container(settings.sampler)
    if config.get("seed") is not None:
        if type(config["seed"]) is not int or not 0 <= config["seed"] < SEEDS:
            raise ConfigError(f"{SETTINGS}.sampler.seed={config['seed']}: give a whole number in [0, 2^32), or null "
                              f"for none")
        config["seed"] = (config["seed"] + trials_so_far) % SEEDS
    return instantiate_trusted(config, f"{SETTINGS}.sampler")


def build_pruner(settings: DictConfig) -> optuna.pruners.BasePruner:
    config = as_container(settings.pruner) or {"_target_": "optuna.pruners.NopPruner"}
    return instantiate_trusted(config, f"{SETTINGS}.pruner")


def check_storage_file(address: str, study_name: str) -> None:
    """ConfigError for a storage file that holds something else, to which Optuna would append its records,
    or that is a folder (SQLite cannot open it: a traceback; a journal's is the system's line, without the key)."""
    file = storage_file(address)
    if file is not None and file.is_dir():
        example = f"{file / study_name}.log"
        if address.startswith("sqlite:///"):
            example = f"sqlite:///{file / study_name}.db"
        raise ConfigError(f"{SETTINGS}.storage={shown(address)} is a folder; give a file, e.g. "
                          f"{SETTINGS}.storage={example}")
    if file is None or not file.is_file() or file.stat().st_size == 0:
        return
    if address.startswith("sqlite:///"):
        with file.open("rb") as database:
            if database.read(16) == b"SQLite format 3\x00":
                return
        what = "an SQLite database"
    else:
        # Optuna skips an unfinished last line: a process that wrote it was stopped.
        *records, _ = file.read_bytes().split(b"\n")
        if records and all(record_of_a_journal(record) for record in records):
            return
        what = "an Optuna journal (a JSON record per line)"
    raise ConfigError(f"{SETTINGS}.storage={shown(address)} is not {what}; give the storage of a study, or "
                      f"a new file")


def record_of_a_journal(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "op_code" in record


def stored_study(address: str, study_name: str) -> optuna.Study | None:
    """The study as the storage holds it already; None when it holds no such study."""
    file = storage_file(address)
    if file is not None and not file.exists():
        return None
    storage = open_storage(address)
    if study_name not in optuna.get_all_study_names(storage):
        return None
    return optuna.load_study(study_name=study_name, storage=storage)


def trials_definition(definition: dict[str, Any], space: dict[str, BaseDistribution]) -> dict[str, Any]:
    """A job's run definition less the keys the search samples: what every trial of the study shares. The
    processes a trial trains in are left out too: the sweeper that stores the definition builds no Trainer."""
    searched = tuple(key.lstrip("+~") for key in space)
    return {key: value for key, value in definition.items() if not within(key, searched) and key != PROCESSES}


def check_definition(study: optuna.Study, definition: dict[str, Any], space: dict[str, BaseDistribution]) -> None:
    """Raise ConfigError when the study's trials were defined otherwise (a study of an earlier version
    stored no definition). A key the stored definition or this command's lacks is one the study or this
    search samples: said so, rather than as the value None."""
    stored = study.user_attrs.get(DEFINITION)
    if stored is None:
        return
    searched_before = {key.lstrip("+~") for trial in study.trials for key in trial.distributions}
    searched_now = tuple(key.lstrip("+~") for key in space)
    for key in sorted(stored.keys() | definition.keys()):
        if stored.get(key) == definition.get(key):
            continue
        if key in definition:
            now = f"{key}={definition[key]}"
        else:
            now = f"{key} is searched" if within(key, searched_now) else f"{key} is not set"
        if key in stored:
            before = f"ran with {stored[key]}"
        else:
            before = "searched it" if within(key, tuple(searched_before)) else "ran without it"
        raise ConfigError(f"{now}, but the trials of study {study.study_name} {before}: a study compares runs "
                          f"that differ only in what it searches; continue it as it ran, or start another "
                          f"({SETTINGS}.study_name=<name>)")


def allowed(distribution: BaseDistribution, value: Any) -> bool:
    """Whether the search space can ask for `value`: a point read from a storage may hold anything."""
    if isinstance(distribution, CategoricalDistribution):
        return any(type(value) is type(choice) and value == choice for choice in distribution.choices)
    if isinstance(distribution, IntDistribution):
        return type(value) is int and distribution.low <= value <= distribution.high
    assert isinstance(distribution, FloatDistribution)
    return type(value) in (int, float) and distribution.low <= value <= distribution.high


def checked_point(point: dict[str, Any], space: dict[str, BaseDistribution], number: int,
                  address: str) -> dict[str, Any]:
    """A trial's point, which becomes its job's override lines: ConfigError for a key or value the search
    space cannot ask for (a storage handed over may hold `hydra.*` keys, or values that are code)."""
    for key, value in point.items():
        if key not in space or not allowed(space[key], value):
            raise ConfigError(f"{SETTINGS}.storage={shown(address)}: trial {number} holds {key}={value!r}, which "
                              f"this search's space does not allow; continue only a study you trust, with the "
                              f"space it ran with, or choose another {SETTINGS}.study_name")
    return point


def check_points_to_ask(trials: list[FrozenTrial], space: dict[str, BaseDistribution], address: str) -> None:
    """The points a resumed study will run: its waiting trials', and those of the trials an interrupt cut."""
    for trial in trials:
        if trial.state == TrialState.WAITING:
            # A waiting trial has no params yet: its point is in the system attribute `enqueue_trial` writes,
            # which no public accessor of Optuna's reads before the trial is asked for.
            checked_point(trial.params | trial.system_attrs.get("fixed_params", {}), space, trial.number, address)
        elif trial.state == TrialState.RUNNING or trial.user_attrs.get(INTERRUPTED):
            checked_point(trial.params, space, trial.number, address)


def check_storage_free(address: str, study_name: str) -> None:
    """ConfigError while another search holds the storage, or a database the sweeper cannot lock or reach."""
    file = storage_file(address)
    if file is None:
        lock_server(address, study_name).close()
    elif (holder := lock_holder(file)) is not None:
        raise in_use(address, f"process {holder}")


def check_settings(settings: DictConfig, params: list[str], resume: bool, sweep_dir: Path,
                   definition: Callable[[], dict[str, Any]]) -> None:
    """Raise ConfigError for a search that cannot run: trial counts out of range, a search space Optuna
    cannot sample, a sampler or pruner that cannot be built, a storage another search holds, a database
    the sweeper cannot lock or reach, a study that exists without resume=true, one whose trials were
    defined otherwise than a job of this command (`definition()`), or one whose stored points the search
    space cannot ask for."""
    whole_number(settings, "n_trials", "the trials the study ends with, in total")
    whole_number(settings, "n_jobs", "trials asked for and run at a time")
    rate = settings.get("max_failure_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ConfigError(f"{SETTINGS}.max_failure_rate={rate} is out of range: allowed a share in [0, 1] (of the "
                          f"trials that may fail with the search still exiting 0)")
    if not settings.get("study_name"):  # Optuna's storage holds a study by its name: null would be "None"
        raise ConfigError(f"{SETTINGS}.study_name={settings.get('study_name')}: give the study a name, e.g. "
                          f"{SETTINGS}.study_name=search")
    if settings.get("direction") != "minimize":
        raise ConfigError(f"{SETTINGS}.direction={settings.get('direction')}: a trial's value is its run's val loss, "
                          f"which the study minimises; set {SETTINGS}.direction=minimize")
    monitor = OmegaConf.select(settings, "trial_callback.monitor", default=None)
    if monitor not in VALIDATED:
        raise ConfigError(f"{SETTINGS}.trial_callback.monitor={monitor}: the pruner compares trials by a metric each "
                          f"validation logs; choose one of {', '.join(VALIDATED)}")
    space, _ = search_space(params)
    if not space:
        raise ConfigError(f"{SETTINGS}.params: nothing to search; give a key an interval or a choice, "
                          f"e.g. 'optim.lr=tag(log, interval(0.001, 0.1))'")
    build_sampler(settings, 0)
    build_pruner(settings)
    address = storage_address(settings.get("storage"), sweep_dir)
    # The default storage is in the sweep folder, which the command-line check has claimed or found free.
    if settings.get("storage") is not None:
        if (file := storage_file(address)) is not None:
            check_writable(file.parent, f"{SETTINGS}.storage={shown(address)}",
                           "choose a storage file in a folder you can write to")
        check_storage_free(address, str(settings.study_name))
    check_storage_file(address, str(settings.study_name))
    study = stored_study(address, str(settings.study_name))
    trials = study.trials if study else None
    if trials and not resume:
        raise ConfigError(f"{SETTINGS}.storage={shown(address)} already holds study {settings.study_name} "
                          f"({len(trials)} trials); pass resume=true to continue it to n_trials={settings.n_trials} "
                          f"in total, or choose another {SETTINGS}.study_name")
    if resume and not trials:
        # A warning, as a single run's: a forgotten or misspelt hydra.sweep.dir reads the same.
        log.warning("resume=true, but %s holds no trials of study %s yet: the search starts from its first trial",
                    shown(address), settings.study_name)
    if study is not None:
        check_definition(study, trials_definition(definition(), space), space)
    check_points_to_ask(trials or [], space, address)


def override_value(value: Any) -> str:
    """`value` in Hydra's override grammar: the callback's node travels to each trial as one override."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{override_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(override_value(item) for item in value) + "]"
    if isinstance(value, str):
        return quoted(value)
    if value is None:
        return "null"
    return repr(value)  # Hydra reads True and False as Python writes them


def finished(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count towards n_trials: completed, pruned, or failed by themselves (not cut by an interrupt)."""
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return [trial for trial in trials if trial.state in done and not trial.user_attrs.get(INTERRUPTED)]


def outcome(folder: str | None) -> tuple[TrialState, float | None, str]:
    """What the trial's run recorded in its status.json: the study's state for it, its val loss, and why."""
    status = (read_status(Path(folder)) if folder else None) or {}
    state = status.get("status", "no status.json: the run never recorded an outcome")
    loss = status.get("results", {}).get("val", {}).get("loss")
    if state == "pruned":
        return TrialState.PRUNED, None, f"pruned after epoch {status.get('epoch')}"
    if state == "completed" and loss is not None and math.isfinite(loss):
        return TrialState.COMPLETE, loss, "completed"
    if state == "completed":
        return TrialState.FAIL, None, f"completed without a finite val loss ({loss})"
    return TrialState.FAIL, None, f"{state}: {status.get('error', '')}".rstrip(": ")


class Search:
    """One command's part of a study, from the settings of conf/hydra/sweeper/optuna.yaml."""

    def __init__(self, settings: DictConfig) -> None:
        self.settings = settings
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.sweep_dir = Path()

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)
        self.sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()

    def run(self, arguments: list[str]) -> None:
        settings = self.settings
        params = [f"{key}={value}" for key, value in (settings.params or {}).items()] + list(arguments)
        space, fixed = search_space(params)
        address = storage_address(settings.storage, self.sweep_dir)
        lock = lock_storage(address, str(settings.study_name))
        try:
            storage = open_storage(address)
            name = str(settings.study_name)
            existing = optuna.load_study(study_name=name, storage=storage).trials \
                if name in optuna.get_all_study_names(storage) else []
            study = optuna.create_study(storage=storage, study_name=name, direction=settings.direction,
                                        sampler=build_sampler(settings, len(existing)), pruner=build_pruner(settings),
                                        load_if_exists=True)
            self.storage, self.study_id = storage, storage.get_study_id_from_name(name)
            if study.metric_names is None:
                # optuna-dashboard and Optuna's plots name the value by it, not as "Objective 0".
                with warnings.catch_warnings():  # experimental since Optuna 3.2, unchanged since
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    study.set_metric_names([OBJECTIVE])
            if DEFINITION not in study.user_attrs:
                job = self.hydra_context.config_loader.load_sweep_config(self.config, fixed)
                study.set_user_attr(DEFINITION, trials_definition(run_definition(job), space))
            log.info("study %s in %s: %d of %d trials finished; sampler %s, pruner %s", name, shown(address),
                     len(finished(existing)), settings.n_trials, type(study.sampler).__name__,
                     type(study.pruner).__name__)
            self.fail_cut_trials(study)
            if hasattr(self.launcher, "launch_as_they_come"):  # hydra/launcher=parallel
                self.run_as_they_come(study, space, fixed, address)
            else:  # Hydra's launchers run a list of jobs and return when all have ended
                while (to_go := settings.n_trials - len(finished(study.trials))) > 0:
                    self.run_batch(study, space, fixed, address, min(settings.n_jobs, to_go))
            self.report(study, address)
        finally:
            lock.close()

    def set_attr(self, number: int, key: str, value: Any) -> None:
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        self.storage.set_trial_user_attr(trial_id, key, value)

    def folder(self, trial: Trial | FrozenTrial) -> str | None:
        """The trial's run folder, as its run wrote it to the storage from its own process: a Trial's
        `user_attrs` are those it was asked with (Optuna caches them), which never hold it."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        return self.located(self.storage.get_trial_user_attrs(trial_id).get(FOLDER))

    def located(self, folder: str | None) -> str | None:
        """A trial's folder as its run named it, or the folder of that name in this sweep's folder where
        the sweep's folder was moved or copied since: named by its trial's number, it is no other trial's."""
        name = Path(folder).name if folder else ""
        here = self.sweep_dir / name
        moved = name not in ("", ".", "..") and Path(folder).parent != self.sweep_dir and here.is_dir()
        return str(here) if moved else folder

    def job_folder(self, trial: Trial | FrozenTrial) -> str | None:
        """The trial's folder, also where its run was cut before its callback named it (before the Trainer's
        setup): the folder of the cut trial it repeats, or the one Hydra made for its number in this sweep
        (`job_dir`: `<number>_<its values>`)."""
        made = [path for path in self.sweep_dir.glob(f"{trial.number}_*") if (path / ".hydra").is_dir()]
        return (self.folder(trial) or self.located(trial.user_attrs.get(CUT_FOLDER))
                or (str(made[0]) if len(made) == 1 else None))

    def fail_cut_trials(self, study: optuna.Study) -> None:
        """Trials an interrupt left running (this command holds the storage: nothing else runs them) are
        failed as interrupted; the interrupted trials' points are asked for again (as many as trials
        remain to run), each in its folder when that is in this sweep (its run then resumes from its
        checkpoint under resume=true)."""
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.set_attr(trial.number, INTERRUPTED, True)
            study.tell(trial.number, state=TrialState.FAIL)
            log.warning("trial %d was left running by an interrupt: failed", trial.number)
        repeated = {trial.user_attrs.get(REPEATS) for trial in study.trials}
        cut = [trial for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
               if trial.user_attrs.get(INTERRUPTED) and trial.number not in repeated]
        room = self.settings.n_trials - len(finished(study.trials))  # a finished study asks for none
        for trial in cut[:max(room, 0)]:
            folder = self.job_folder(trial)
            study.enqueue_trial(trial.params, user_attrs={REPEATS: trial.number, CUT_FOLDER: folder})
            log.info("trial %d was cut by an interrupt: its point is asked for again", trial.number)

    def job(self, trial: Trial, space: dict[str, BaseDistribution], fixed: list[str], address: str) -> list[str]:
        """The trial's overrides: its sampled values, the fixed ones, and the callback that reports to it.
        A trial that repeats one an interrupt cut in this sweep runs in that one's folder, where its run
        resumes from its checkpoint under resume=true; any other is named by Hydra, numbered by its trial."""
        # A database URL by reference to the sweeper's own setting, which the trial's config holds too: the
        # launcher logs each job's overrides, and would print a password in the URL with them. A file is
        # given as every process reaches it.
        storage = address if storage_file(address) is not None else "${hydra:sweeper.storage}"
        callback = {**as_container(self.settings.trial_callback), "storage": storage,
                    "study_name": str(self.settings.study_name),
                    # Each batch is launched numbered from its first trial: a job's number is its trial's.
                    "trial_number": "${hydra:job.num}", "pruner": as_container(self.settings.pruner)}
        # The job's folder is named by what the search varies, not by the callback every trial gets.
        unnamed = [*self.config.hydra.job.config.override_dirname.exclude_keys, TRIAL_CALLBACK]
        point = checked_point(trial.params, space, trial.number, address)
        overrides = [*(f"{key}={value}" for key, value in point.items()), *fixed,
                     f"+{TRIAL_CALLBACK}={override_value(callback)}",
                     f"hydra.job.config.override_dirname.exclude_keys=[{','.join(unnamed)}]"]
        earlier = self.located(trial.user_attrs.get(CUT_FOLDER))
        # A folder name holding `${` would be resolved as an interpolation (quoting does not stop it);
        # `<sweep>/..` is the sweep's parent, out of it.
        if earlier and Path(earlier).parent == self.sweep_dir and Path(earlier).name != ".." and "${" not in earlier:
            overrides.append(f"hydra.sweep.subdir={quoted(Path(earlier).name)}")
        return overrides

    def run_batch(self, study: optuna.Study, space: dict[str, BaseDistribution], fixed: list[str], address: str,
                  size: int) -> None:
        trials = [study.ask(space) for _ in range(size)]
        numbers = [trial.number for trial in trials]
        # This command alone asks the study for trials (it holds the storage): their numbers follow on.
        assert numbers == list(range(numbers[0], numbers[0] + size)), numbers
        jobs = [self.job(trial, space, fixed, address) for trial in trials]
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=numbers[0])
        except BaseException:
            for trial in trials:
                self.cut(study, trial)
            raise
        for trial, returned in zip(trials, returns):
            self.tell(study, trial, returned)

    def run_as_they_come(self, study: optuna.Study, space: dict[str, BaseDistribution], fixed: list[str],
                         address: str) -> None:
        """Keep `n_jobs` trials running: ask for the next one as soon as one ends (and is told), so that
        a trial the pruner stops frees its place at once, where a batch would wait for its slowest."""
        running: dict[int, Trial] = {}

        def next_job() -> tuple[int, list[str]] | None:
            if len(finished(study.trials)) + len(running) >= self.settings.n_trials:
                return None
            trial = study.ask(space)
            running[trial.number] = trial
            return trial.number, self.job(trial, space, fixed, address)

        try:
            self.launcher.launch_as_they_come(next_job, lambda number, returned: self.tell(
                study, running.pop(number), returned), at_a_time=self.settings.n_jobs)
        except BaseException:
            for trial in running.values():
                self.cut(study, trial)
            raise

    def cut(self, study: optuna.Study, trial: Trial) -> None:
        """An interrupt stopped the batch: whatever its run recorded, the trial is asked again on resume."""
        state, value, reason = outcome(self.job_folder(trial))
        if state is TrialState.COMPLETE:
            study.tell(trial, value)
            log.info("trial %d: val loss %.4f (completed before the interrupt)", trial.number, value)
            return
        trial.set_user_attr(INTERRUPTED, True)
        study.tell(trial, state=TrialState.FAIL)
        log.error("trial %d: cut by the interrupt (%s); resume=true asks for its point again", trial.number, reason)

    def tell(self, study: optuna.Study, trial: Trial, returned: JobReturn) -> None:
        # The run names its folder in the trial as it starts; one that failed before has it in its JobReturn.
        folder = self.folder(trial)
        if folder is None and returned.hydra_cfg is not None:
            folder = str(returned.hydra_cfg.hydra.runtime.output_dir)
            trial.set_user_attr(FOLDER, folder)
        state, value, reason = outcome(folder)
        if reason.startswith("interrupted"):
            trial.set_user_attr(INTERRUPTED, True)
        if state is TrialState.COMPLETE:
            study.tell(trial, value)
            log.info("trial %d: val loss %.4f", trial.number, value)
        else:
            study.tell(trial, state=state)
            (log.info if state is TrialState.PRUNED else log.error)("trial %d: %s", trial.number, reason)

    def report(self, study: optuna.Study, address: str) -> None:
        """Log and save (optimization_results.yaml) the counts, the best trial, its folder, and Optuna's
        parameter importances; no best trial when none completed."""
        trials = finished(study.trials)
        counts = Counter(trial.state.name.lower() for trial in trials)
        results: dict[str, Any] = {"name": "optuna", "study_name": study.study_name, "storage": shown(address),
                                   "completed": counts["complete"], "pruned": counts["pruned"],
                                   "failed": counts["fail"]}
        log.info("study %s: %d trials finished: %d completed, %d pruned, %d failed", study.study_name, len(trials),
                 counts["complete"], counts["pruned"], counts["fail"])
        if counts["complete"] == 0:
            log.error("no trial of study %s completed: it has no best parameters", study.study_name)
        else:
            # Not study.best_trial: before Optuna 4.5 its query fails on PostgreSQL through psycopg 3 (optuna#6096).
            best = min((trial for trial in trials if trial.state is TrialState.COMPLETE), key=lambda trial: trial.value)
            folder = self.located(best.user_attrs.get(FOLDER))
            results |= {"best_trial": best.number, "best_value": best.value, "best_params": best.params,
                        "best_folder": folder}
            log.info("best trial %d: val loss %.4f with %s, in %s", best.number, best.value,
                     " ".join(f"{key}={value}" for key, value in best.params.items()), folder)
        if counts["complete"] >= 2:
            try:
                # Named, not Optuna's default: before Optuna 5 that was fANOVA, which needs scikit-learn.
                importances = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
            except (ValueError, RuntimeError) as error:  # too few distinct values to tell the parameters apart
                log.warning("no parameter importances: %s", error)
            else:
                results["importances"] = {key: round(value, 4) for key, value in importances.items()}
                log.info("parameter importances (Optuna's PED-ANOVA): %s",
                         ", ".join(f"{key} {value:.3f}" for key, value in importances.items()))
        path = self.sweep_dir / "optimization_results.yaml"
        try:  # whole or not at all: OmegaConf.save emptied the earlier file on a full disk, with a traceback
            write_text(path, OmegaConf.to_yaml(OmegaConf.create(results)))
        except OSError as error:
            if full_disk(error) is None:
                raise
            # The sweep's report still lists its jobs, then fails writing its own files on the same disk.
            log.error("%s writing %s: free some space, then the same command with "
                      "resume=true writes it again", full_disk(error), path)
