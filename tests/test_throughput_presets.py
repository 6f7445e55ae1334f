"""The preset data: every number has a source and a date; the LLM presets' parameter split,
KV-cache and attention figures agree with their architecture numbers, counted here again;
`sweep presets` lists the three kinds."""

from __future__ import annotations

import re

import pytest

from sweep.cli import main
from sweep.spec.presets import (
    CALIBRATION_INPUTS,
    PRECISIONS,
    load_calibrations,
    load_formats,
    load_models,
    load_presets,
)

DATE = re.compile(r"^\d{4}-\d{2}$")


def count_parameters(a: dict) -> tuple[float, float]:
    """Billions of (shared, routed-expert) parameters of an architecture: attention (MLA or
    GQA projections), dense SwiGLU FFN layers, per MoE layer the shared experts and the
    router, embeddings and LM head (twice the vocabulary x hidden when untied), and the
    routed experts (three matrices of hidden x intermediate each). Norms and biases are left
    out (well under 0.1 %)."""
    h, layers = a["hidden"], a["layers"]
    if a["attention"] == "mla":
        heads, qk = a["q_heads"], a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
        attn = (h * a["q_lora_rank"] + a["q_lora_rank"] * heads * qk
                + h * (a["kv_lora_rank"] + a["qk_rope_head_dim"])
                + a["kv_lora_rank"] * heads * (a["qk_nope_head_dim"] + a["v_head_dim"])
                + heads * a["v_head_dim"] * h)
    else:
        attn = 2 * h * a["q_heads"] * a["head_dim"] + 2 * h * a["kv_heads"] * a["head_dim"]
    experts = a.get("experts", 0)
    dense = a.get("dense_layers", 0 if experts else layers)
    moe = layers - dense
    embeddings = a["vocab"] * h * (1 if a["tied_embeddings"] else 2)
    shared = layers * attn + dense * 3 * h * a.get("dense_intermediate", 0) + embeddings
    routed = 0
    if experts:
        shared += moe * (a["shared_experts"] * 3 * h * a["moe_intermediate"] + h * experts)
        routed = moe * experts * 3 * h * a["moe_intermediate"]
    return shared / 1e9, routed / 1e9


def kv_elements(a: dict) -> int:
    """KV-cache elements per token of context over the full-attention layers: MLA keeps the
    compressed latent and the rope key (kv_lora_rank + rope dims) per layer; GQA keeps K and
    V per KV head."""
    full = a["layers"] - a.get("window_layers", 0)
    if a["attention"] == "mla":
        return full * (a["kv_lora_rank"] + a["qk_rope_head_dim"])
    return full * 2 * a["kv_heads"] * a["head_dim"]


def attention_flops(a: dict) -> int:
    """FLOP per generated token per context token over the full-attention layers: GQA
    4 x q_heads x head_dim (QK^T and AV); MLA in absorbed form
    2 x q_heads x (kv_lora_rank + rope + kv_lora_rank)."""
    full = a["layers"] - a.get("window_layers", 0)
    if a["attention"] == "mla":
        return full * 2 * a["q_heads"] * (2 * a["kv_lora_rank"] + a["qk_rope_head_dim"])
    return full * 4 * a["q_heads"] * a["head_dim"]


@pytest.mark.parametrize("label", sorted(load_models()))
def test_llm_presets_agree_with_their_architecture(label):
    m = load_models()[label]
    a = m.architecture
    shared, routed = count_parameters(a)
    assert m.params_shared_b == pytest.approx(shared, rel=2e-3)
    assert m.params_experts_b == pytest.approx(routed, abs=0.01, rel=2e-3)
    # the model card's total; its active count leaves out the input embedding for some
    assert m.params_shared_b + m.params_experts_b == pytest.approx(m.stated_total_b, rel=0.01)
    active = shared + routed * m.experts_per_token / m.experts
    embedding = a["vocab"] * a["hidden"] / 1e9
    # within 3 %, or within the card's rounding to whole billions ("10B active")
    near = [abs(m.stated_active_b - a) <= max(0.03 * a, 0.5) for a in (active,
                                                                         active - embedding)]
    assert any(near), (m.stated_active_b, active, active - embedding)
    assert m.kv_elements_per_token == kv_elements(a)
    assert m.attn_flops_per_context_token == attention_flops(a)
    assert m.experts == max(1, a.get("experts", 1))
    assert m.experts_per_token == max(1, a.get("experts_per_token", 1))
    window = a.get("window_layers", 0) * 2 * a.get("kv_heads", 0) * a.get("head_dim", 0) \
        * a.get("window", 0)
    assert m.kv_window_elements_per_sequence == window
    assert m.weights in load_formats()["weights"] and m.source and DATE.match(m.date)


def test_the_research_notes_kv_bytes_per_token():
    """shared/reference/throughput-model.md section 4: KV bytes per token, BF16 / FP8."""
    kv = {label: m.kv_elements_per_token for label, m in load_models().items()}
    assert (kv["DeepSeek-R1"] * 2, kv["DeepSeek-R1"]) == (70272, 35136)
    assert (kv["Llama-3.3-70B"] * 2, kv["Llama-3.3-70B"]) == (327680, 163840)
    assert (kv["gpt-oss-120b"] * 2, kv["gpt-oss-120b"]) == (36864, 18432)
    assert (kv["Qwen3-235B-A22B"] * 2, kv["Qwen3-235B-A22B"]) == (192512, 96256)


def test_every_platform_number_has_a_source_and_a_date():
    table = load_presets()
    assert {"HGX H100", "HGX H200", "B200", "B300", "GB200 NVL72", "GB300 NVL72", "MI300X",
            "MI325X", "MI355X"} <= set(table)
    for label, p in table.items():
        fields = [p.gpu_hour_usd, p.kw_per_gpu, p.tdp_kw, p.hbm_tb_s, p.hbm_gb,
                  *(p.peak_pflops[k] for k in PRECISIONS)]
        for f in fields:
            assert f.source and DATE.match(f.date), label
        assert p.gpu_hour_usd.basis in ("on-demand", "contract", "market-index", "article",
                                         "estimate"), label
        for f in (p.gpu_hour_usd, p.kw_per_gpu, p.tdp_kw, p.hbm_tb_s, p.hbm_gb):
            assert f.value is not None and f.value > 0, label
        assert p.peak_pflops["fp8"].value > 0
    # the sources that disagree are flagged as such
    assert "tdp_kw" in table["B300"].conflicts() and "hbm_gb" in table["B300"].conflicts()


def test_calibration_regimes_hold_their_value_inside_their_spread():
    table = load_calibrations()
    assert {"theoretical", "tuned-blackwell", "tuned-hopper", "less-mature"} <= set(table)
    assert table["theoretical"].inputs() == {"mbu": 1.0, "mfu": 1.0, "mfu_prefill": 1.0,
                                             "step_overhead_ms": 0.0}
    for label, c in table.items():
        assert set(c.factors) == set(CALIBRATION_INPUTS) and c.source and DATE.match(c.date)
        for name, f in c.factors.items():
            assert f.low <= f.value <= f.high, (label, name)


def test_sweep_presets_lists_platforms_llms_and_calibrations(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for text in ("platforms", "MI355X", "HBM 288.0 GB", "sources disagree on", "LLMs",
                 "DeepSeek-R1: 17.12B shared", "calibrations", "tuned-hopper: mbu 0.5"):
        assert text in out, text


@pytest.mark.parametrize("typed,meant", [("H200", "HGX H200"), ("gb300", "GB300 NVL72"),
                                         ("B20O", "B200")])
def test_a_preset_named_by_one_of_its_words_is_suggested_whole(typed, meant):
    """Suggestions match on words first (``H200`` is 'HGX H200', not the closer spelling
    'B200'), then on spelling."""
    from sweep.spec.config import ConfigError, spec_from_dict

    with pytest.raises(ConfigError) as exc:
        spec_from_dict({"name": "p", "axes": {"platform": {"presets": [typed]},
                                              "utilization": {"values": [1.0]}},
                        "constants": {"tokens_per_s_per_gpu": 100.0}})
    (problem,) = [p for p in exc.value.problems if p.path == "axes.platform.presets[0]"]
    assert problem.expected.endswith(f"did you mean {meant!r}?")
