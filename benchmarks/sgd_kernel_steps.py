"""The first steps of SGD with momentum from the same weights and batches, with each of torch's three SGD kernels.

    python benchmarks/sgd_kernel_steps.py --data-root ../shared/data --steps 20

torch.optim.SGD has three implementations: the single-tensor loop (what it uses on CPU unless told
otherwise, and what `optim.fused=false` gives: torch picks foreach by default only on CUDA-like
devices), foreach (foreach=True) and one fused kernel (fused=True). The loop is the reference here.
The paper's VAE (benchmarks/plain_loop.py's model and loss), SGD lr 0.01 momentum 0.9, batch 128,
real MNIST, the same weights (seed --seed), batches and latent noise for every kernel:

1. Where the kernels differ, the smallest reproduction: one update of a single random tensor of a
   few sizes, 200 draws each: how many entries fused and foreach round differently from the loop, where.
Then for clipping by value at 1.0 and none, at 1 and 2 torch threads:
2. One update from the same state: the parameters, momentum buffers and gradients of step
   --update-at of a loop trajectory, updated once by each kernel and in float64. Prints each
   kernel's largest error against float64 (in float32 spacings of the step or of the parameter,
   whichever is larger: a few is rounding), how many entries differ from the loop's, by how many
   ulp at most, and in which tensors.
3. Trajectories: --steps full steps (forward, backward, clipping, update) with each kernel in
   float32, and with the loop in float64. Prints, after each step, the largest |fused - loop| and
   |foreach - loop| of any parameter, and the largest |loop - float64|: the float32 trajectory's
   own rounding drift, the yardstick for "beyond float rounding".
4. Cost: the median time of one optimizer step (clipping not included) with each kernel,
   interleaved, and what it adds up to over an epoch of 430 steps.
Last, threads: each kernel's weights after --steps steps at 2 threads against those at 1.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch.optim.sgd import sgd

from arguments import at_least, thread_counts
from plain_loop import PlainVAE, load_mnist, loss_terms

LR, MOMENTUM, BATCH, STEPS_PER_EPOCH = 0.01, 0.9, 128, 430
KERNELS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def batches(images: torch.Tensor, count: int, seed: int) -> list[torch.Tensor]:
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return [images[index] for index in order.split(BATCH)[:count]]


def make_optimizer(model: nn.Module, kernel: str) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, **KERNELS[kernel])


def update(kernel: str, params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor]) -> None:
    """One SGD update in place, with torch's functional SGD and the kernel's flags."""
    sgd(params, grads, bufs, **KERNELS[kernel], weight_decay=0.0, momentum=MOMENTUM, lr=LR, dampening=0.0,
        nesterov=False, maximize=False)


def gradient(model: nn.Module, x: torch.Tensor, step: int, clip: float | None) -> None:
    model.zero_grad(set_to_none=True)
    x = x.to(next(model.parameters()).dtype)
    loss_terms(x, *model(x, torch.Generator().manual_seed(1000 + step))).backward()
    if clip is not None:
        nn.utils.clip_grad_value_(model.parameters(), clip)


def concatenated(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten() for t in tensors])


def ulp(x: torch.Tensor) -> torch.Tensor:
    """The spacing of float32 at each entry of x."""
    x = x.float().abs()
    return (torch.nextafter(x, torch.tensor(float("inf"))) - x).double()


def single_tensor(size: int, trials: int = 200) -> dict[str, tuple[int, list[int]]]:
    """Per kernel: entries (count, sorted positions) where it rounds one update of a random tensor
    differently from the loop."""
    generator = torch.Generator().manual_seed(size)
    found = {kernel: (0, set()) for kernel in ("foreach", "fused")}
    for _ in range(trials):
        param, grad, buf = (torch.randn(size, generator=generator) * scale for scale in (1.0, 0.1, 0.1))
        results = {}
        for kernel in KERNELS:
            p, b = param.clone(), buf.clone()
            update(kernel, [p], [grad.clone()], [b])
            results[kernel] = (p, b)
        for kernel, (count, positions) in found.items():
            (p, b), (p0, b0) = results[kernel], results["loop"]
            differ = ((p != p0) | (b != b0)).nonzero().flatten().tolist()
            found[kernel] = (count + len(differ), positions | set(differ))
    return {kernel: (count, sorted(positions)) for kernel, (count, positions) in found.items()}


def one_update(model: nn.Module, images: list[torch.Tensor], clip: float | None, at_step: int) -> dict[str, tuple]:
    """Run `at_step` loop steps, then update that one state once with each kernel and in float64."""
    optimizer = make_optimizer(model, "loop")
    for step, x in enumerate(images[:at_step]):
        gradient(model, x, step, clip)
        optimizer.step()
    gradient(model, images[at_step], at_step, clip)
    params = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    bufs = [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    updated = {}
    for kernel in KERNELS:
        p = [t.clone() for t in params]
        update(kernel, p, [g.clone() for g in grads], [t.clone() for t in bufs])
        updated[kernel] = concatenated(p)
    step = concatenated(LR * (MOMENTUM * b.double() + g.double()) for b, g in zip(bufs, grads))
    exact = concatenated(t.double() for t in params) - step
    # float32 rounds the new momentum buffer, the step and the new parameter: an error of a few units of
    # the larger of the step's and the parameter's spacing is rounding.
    spacing = torch.maximum(ulp(exact), ulp(step))
    names = [name for name, p in model.named_parameters() for _ in range(p.numel())]
    out = {}
    for kernel, values in updated.items():
        error = ((values.double() - exact).abs() / spacing).max().item()
        differ = (values != updated["loop"]).nonzero().flatten().tolist()
        gap = ((values.double() - updated["loop"].double()).abs() / ulp(updated["loop"])).max().item()
        out[kernel] = (error, len(differ), gap, sorted({names[i] for i in differ}))
    return out


def trajectories(model: nn.Module, images: list[torch.Tensor], clip: float | None) -> list[tuple[float, ...]]:
    """After each step: max |fused - loop|, max |foreach - loop|, max |loop - float64| over all parameters."""
    models = {kernel: copy.deepcopy(model) for kernel in KERNELS}
    models["float64"] = copy.deepcopy(model).double()
    optimizers = {name: make_optimizer(m, "loop" if name == "float64" else name) for name, m in models.items()}
    rows = []
    for step, x in enumerate(images):
        for name, m in models.items():
            gradient(m, x, step, clip)
            optimizers[name].step()
        weights = {name: concatenated(m.parameters()).double() for name, m in models.items()}
        rows.append(tuple((weights[a] - weights[b]).abs().max().item()
                          for a, b in (("fused", "loop"), ("foreach", "loop"), ("loop", "float64"))))
    return rows


def final_weights(model: nn.Module, images: list[torch.Tensor], kernel: str, clip: float | None) -> torch.Tensor:
    model = copy.deepcopy(model)
    optimizer = make_optimizer(model, kernel)
    for step, x in enumerate(images):
        gradient(model, x, step, clip)
        optimizer.step()
    return concatenated(model.parameters())


def step_cost(model: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    models = {kernel: copy.deepcopy(model) for kernel in KERNELS}
    optimizers = {kernel: make_optimizer(m, kernel) for kernel, m in models.items()}
    for m in models.values():
        gradient(m, x, 0, 1.0)
    seconds = {kernel: [] for kernel in models}
    order = list(KERNELS)
    for repeat in range(repeats):
        for kernel in order[repeat % 3:] + order[:repeat % 3]:
            started = time.perf_counter()
            optimizers[kernel].step()
            seconds[kernel].append(time.perf_counter() - started)
    return {kernel: statistics.median(s) for kernel, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=at_least(1), default=20)
    parser.add_argument("--update-at", type=at_least(1), default=5,
                        help="the step whose state the one-update test takes")
    parser.add_argument("--threads", type=thread_counts, default="1,2")
    parser.add_argument("--repeats", type=at_least(1), default=600, help="timed steps per kernel")
    args = parser.parse_args()
    train, _, _ = load_mnist(args.data_root)
    images = batches(train, max(args.steps, args.update_at + 1), args.seed)
    torch.manual_seed(args.seed)
    model = PlainVAE()
    print("one update of a single tensor, 200 random draws: entries rounded differently from the loop, and where")
    for size in (8, 16, 17, 20, 24, 400, 784):
        found = single_tensor(size)
        print(f"  size {size:>3} ({size % 8} past a multiple of 8): " + "; ".join(
            f"{kernel} {count} entries" + (f", positions {positions[0]}-{positions[-1]}" if positions else "")
            for kernel, (count, positions) in found.items()))
    weights = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for clip in (1.0, None):
            print(f"\n== threads {threads}, clip {'value 1.0' if clip else 'none'}")
            print(f"one update from step {args.update_at}'s state ({sum(p.numel() for p in model.parameters())} "
                  f"parameters): largest error against float64 (in float32 spacings of the step or the parameter), "
                  f"entries that differ from the loop's, by how many ulp at most, in which tensors")
            for kernel, (error, differ, gap, where) in one_update(copy.deepcopy(model), images, clip,
                                                                  args.update_at).items():
                print(f"  {kernel:>8}: {error:.2f}; {differ} entries, up to {gap:.0f} ulp {', '.join(where)}")
            print("step  max|fused-loop|  max|foreach-loop|  max|loop-float64|  fused gap/drift")
            for step, (gap, foreach_gap, drift) in enumerate(trajectories(model, images[:args.steps], clip), 1):
                ratio = gap / drift if drift else float("nan")
                print(f"{step:>4}  {gap:15.3e}  {foreach_gap:17.3e}  {drift:17.3e}  {ratio:15.2f}")
            for kernel in KERNELS:
                weights[threads, clip, kernel] = final_weights(model, images[:args.steps], kernel, clip)
        cost = step_cost(model, images[0], args.repeats)
        print(f"optimizer step at {threads} threads, median of {args.repeats}, and over an epoch of "
              f"{STEPS_PER_EPOCH} steps: " + ", ".join(
                  f"{kernel} {seconds * 1e3:.3f} ms = {seconds * STEPS_PER_EPOCH:.3f} s"
                  for kernel, seconds in cost.items())
              + f" (ratio_fused_vs_loop={cost['fused'] / cost['loop']:.2f})")
    counts = sorted({threads for threads, _, _ in weights})
    for (threads, clip, kernel), values in weights.items():
        if threads != counts[0]:
            other = weights[counts[0], clip, kernel]
            print(f"{kernel}, clip {clip}, after {args.steps} steps: {threads} threads against {counts[0]}: "
                  f"max abs difference {(values - other).abs().max().item():.3e}")


if __name__ == "__main__":
    main()
