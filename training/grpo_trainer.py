"""TRL's GRPOTrainer with a behaviour-cloning auxiliary loss on the expert's answer.

GRPO on outcome rewards can drift from anything the expert would do; RL fine-tuning of driving policies in closed
loop usually keeps a supervised term beside the policy-gradient one. Here each sample's expert answer (its reasoning
and `solution`, the SFT target) is scored under the policy, and its negative log-likelihood is added to the GRPO loss
with weight `bc_weight`, annealed linearly to 0 over `bc_anneal_steps` optimisation steps (0: constant). The
entropy bonus, the KL coefficient and per-reward normalisation are TRL's own switches (`entropy_coef`, `beta`,
`multi_objective_aggregation`).
"""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer

from training.dataset import completion_text

IMAGE_KEYS = ("pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "image_sizes")


class DrivingGRPOTrainer(GRPOTrainer):
    def __init__(self, *args: Any, bc_weight: float = 0.0, bc_anneal_steps: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bc_weight = bc_weight
        self.bc_anneal_steps = bc_anneal_steps

    def bc_coefficient(self) -> float:
        if self.bc_anneal_steps <= 0:
            return self.bc_weight
        return self.bc_weight * max(0.0, 1.0 - self.state.global_step / self.bc_anneal_steps)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if self.bc_weight > 0.0:
            tokenizer = self.processing_class.tokenizer
            targets = [completion_text(row) + tokenizer.eos_token for row in inputs]
            encoded = tokenizer(targets, add_special_tokens=False, padding=True, padding_side="right",
                                return_tensors="pt")  # fmt: skip
            device = output["prompt_ids"].device
            output["bc_ids"] = encoded["input_ids"].to(device)
            output["bc_mask"] = encoded["attention_mask"].to(device)
        return output

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        coefficient = self.bc_coefficient()
        if coefficient <= 0.0 or "bc_ids" not in inputs:
            return loss
        nll = self.bc_nll(model, inputs)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["bc_nll"].append(self.accelerator.gather_for_metrics(nll.detach()).mean().item())
        self._metrics[mode]["bc_coefficient"].append(coefficient)
        accumulation = self.current_gradient_accumulation_steps if self.model.training else 1
        return loss + coefficient * nll / accumulation  # scaled like TRL's own terms under gradient accumulation

    def bc_nll(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean per-token negative log-likelihood of the expert answers given each sample's prompt and image."""
        input_ids = torch.cat([inputs["prompt_ids"], inputs["bc_ids"]], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["bc_mask"]], dim=1)
        images = {k: inputs[k] for k in IMAGE_KEYS if k in inputs}
        for key in ("token_type_ids", "mm_token_type_ids"):  # the image positions (M-RoPE): the prompt's, then none
            if inputs.get(key) is not None:
                prompt_part = inputs[key][:, : inputs["prompt_ids"].size(1)]
                images[key] = torch.cat([prompt_part, prompt_part.new_zeros(inputs["bc_ids"].shape)], dim=1)
        logps, _, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, inputs["bc_ids"].size(1), **images
        )
        mask = inputs["bc_mask"].to(logps.dtype)
        return -(logps * mask).sum() / mask.sum().clamp(min=1.0)
