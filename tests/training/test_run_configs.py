from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from planner.config import ConfigError, from_mapping
from planner.vlm import VLMPlannerConfig
from training.common import DataSource
from training.evaluate import EvalConfig
from training.grpo import GRPORunConfig, build_grpo_config
from training.sft import SFTRunConfig

CONF = str(Path(__file__).resolve().parents[2] / "conf")


@pytest.mark.parametrize("preset", ["base", "tiny-cpu", "qwen2vl-2b"])
def test_grpo_presets_build(preset: str, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="grpo", overrides=[f"train/grpo={preset}", "train.grpo.data.path=data/x"])
    run = from_mapping(GRPORunConfig, cfg.train.grpo)
    if preset == "base":
        assert run == GRPORunConfig(data=DataSource(path="data/x"))  # base.yaml mirrors the dataclass defaults
    if preset == "qwen2vl-2b":
        assert run.model.path == "Qwen/Qwen2-VL-2B-Instruct" and run.bf16 and run.model.dtype == "bfloat16"
        return  # bf16 TrainingArguments need a GPU
    args = build_grpo_config(run, tmp_path)
    assert args.num_generations == run.num_generations and args.beta == run.beta
    assert args.reward_weights == list(run.reward.weights.values())


@pytest.mark.parametrize("preset", ["base", "tiny-cpu", "qwen2vl-2b"])
def test_sft_presets_parse(preset: str) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="sft", overrides=[f"train/sft={preset}", "train.sft.data.path=data/x"])
    run = from_mapping(SFTRunConfig, cfg.train.sft)
    assert run.completion_only_loss
    if preset == "base":
        assert run == SFTRunConfig(data=DataSource(path="data/x"))


def test_evaluate_and_planner_configs_parse() -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=["planner.model=some/model"])
    assert from_mapping(VLMPlannerConfig, cfg.planner) == VLMPlannerConfig(model="some/model")
    assert from_mapping(EvalConfig, cfg.eval).split == "validation"
    assert from_mapping(EvalConfig, cfg.eval).protocol == "standard"
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        paper = compose(config_name="evaluate", overrides=["eval.protocol=alphadrive"])
    assert from_mapping(EvalConfig, paper.eval).protocol == "alphadrive"
    with pytest.raises(ConfigError, match="protocol must be one of"):
        from_mapping(EvalConfig, {"protocol": "paper"}, "eval")


def test_unknown_and_inconsistent_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"train.grpo.model: unknown key\(s\) \['pth'\]"):
        from_mapping(GRPORunConfig, {"model": {"pth": "x"}}, "train.grpo")
    with pytest.raises(ConfigError, match="num_generations must be >= 2"):
        from_mapping(GRPORunConfig, {"num_generations": 1})
    with pytest.raises(ConfigError, match=r"reward\.weights"):
        from_mapping(GRPORunConfig, {"reward": {"weights": {"speed": 1.0, "comfort": 1.0}}})
