"""Generation API and CLI on the tiny HunyuanVideo-FramePack backend; loading errors; video files."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

pytest.importorskip("diffusers")
pytest.importorskip("av")

from hunyuan_tiny import tiny_pipeline  # noqa: E402

from fpeval.cli import app  # noqa: E402
from fpeval.generation.generate import generate, pixel_frame_map  # noqa: E402
from fpeval.images import to_tensor  # noqa: E402
from fpeval.models.hunyuan import ENV_MODEL_DIR, HunyuanBackend, HunyuanCondition, resolve_model_dir  # noqa: E402
from fpeval.video import read_mp4, write_mp4  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny pipeline saved to disk, loaded back through the real loading code."""
    path = tmp_path_factory.mktemp("tiny_framepack")
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    path = tmp_path_factory.mktemp("pe") / "prompt.safetensors"
    save_file(
        {
            "prompt_embeds": torch.randn(1, 6, 16, generator=g),
            "prompt_attention_mask": torch.ones(1, 6),
            "pooled_prompt_embeds": torch.randn(1, 8, generator=g),
        },
        str(path),
    )
    return path


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "start.png"
    yy, xx = np.mgrid[0:32, 0:32]
    Image.fromarray(np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1).astype(np.uint8)).save(path)
    return path


def _backend(model_dir, **kwargs):
    """The tiny model loaded from disk, with fixed prompt embeddings (it has no text encoders)."""
    g = torch.Generator().manual_seed(0)
    pe = HunyuanCondition(
        torch.randn(1, 6, 16, generator=g), torch.ones(1, 6), torch.randn(1, 8, generator=g), torch.empty(0)
    )
    return HunyuanBackend.from_pretrained(
        model_dir, device="cpu", prompt_embeds=pe, guidance_scale=6.0, **kwargs
    )


def test_generate_api_outputs_and_metadata(model_dir, image_file):
    backend = _backend(model_dir)
    out = generate(backend, "inverted", str(image_file), sections=2, seeds=[3, 4], steps=2)
    assert out.latents.shape == (2, 4, 19, 4, 4)
    assert out.frames.shape == (2, 1 + 4 * 18, 32, 32, 3) and out.frames.dtype == np.uint8
    meta = out.metadata[0]
    assert (
        meta["seed"] == 3
        and meta["variant"] == "inverted"
        and meta["schedule"] == "f1k1_x_g9_f1k1f2k2f16k4_td"
    )
    # inverted: the last section in time is made first (step 0)
    assert meta["frame_section"][:2] == [-1, 0] and meta["frame_section"][-1] == 1
    assert meta["frame_step"][1] == 1 and meta["frame_step"][-1] == 0
    assert len(meta["frame_section"]) == out.frames.shape[1]
    again = generate(backend, "inverted", str(image_file), sections=2, seeds=[4], steps=2)
    # a video does not depend on its batch mates (up to float reassociation in batched matmuls)
    torch.testing.assert_close(again.latents[0], out.latents[1], rtol=1e-5, atol=1e-5)
    assert not again.latents.requires_grad


def test_pixel_frame_map():
    assert pixel_frame_map([-1, 0, 0, 1], 4) == [-1] + [0] * 8 + [1] * 4


def cli_args(model_dir, image_file, steps):
    return [
        "generate",
        "--model",
        str(model_dir),
        "--image",
        str(image_file),
        "--sections",
        "2",
        "--steps",
        str(steps),
    ]


def test_cli_generate_writes_mp4_sidecar_latents(model_dir, prompt_file, image_file, tmp_path):
    out = tmp_path / "gen"
    args = cli_args(model_dir, image_file, steps=2)
    args += [
        "--prompt-embeds",
        str(prompt_file),
        "--variant",
        "vanilla",
        "-s",
        "0",
        "-s",
        "1",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"vanilla_seed{s}.{ext}" for s in (0, 1) for ext in ("mp4", "json", "latents.safetensors")
    )
    frames = read_mp4(out / "vanilla_seed0.mp4")
    assert frames.shape == (73, 32, 32, 3)
    side = json.loads((out / "vanilla_seed0.json").read_text())
    assert side["fps"] == 30.0 and side["video"] == "vanilla_seed0.mp4" and len(side["frame_section"]) == 73
    # provenance: the model folder and its index digest, the embeddings file and its digest, no prompt text
    from fpeval import __version__
    from fpeval.models.checkpoints import file_digest, folder_digest

    prov = side["provenance"]
    assert prov["folder"] == str(model_dir) and prov["folder_index_sha256"] == folder_digest(model_dir)
    assert prov["prompt_embeds"] == {"file": str(prompt_file), "sha256": file_digest(prompt_file)}
    assert side["prompt"] is None and side["fpeval_version"] == __version__
    assert side["variant_config"]["name"] == "vanilla" and side["solver"] == "unipc" and side["steps"] == 2


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--variant", "nope"], "unknown variant 'nope'"),
        (["--variant", "df", "--sigma-test", "2"], "sigma_test must be in [0, 1]"),
        (["--sections", "0"], "sections must be an integer >= 1"),
        (["--variant", "vanilla", "--schedule", "td_f8k8f4k4f2k2f1k1_g9"], "this plan needs k8"),
    ],
)
def test_cli_generate_bad_input_writes_nothing(model_dir, prompt_file, image_file, tmp_path, extra, message):
    out = tmp_path / "gen"
    args = cli_args(model_dir, image_file, steps=1)
    args += ["--prompt-embeds", str(prompt_file), "--out", str(out), *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists()


def test_missing_weights_are_clear_errors(tmp_path, monkeypatch, image_file):
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    with pytest.raises(FileNotFoundError, match=f"--model PATH .* set \\${ENV_MODEL_DIR}"):
        resolve_model_dir(None)
    with pytest.raises(FileNotFoundError, match="unknown model: no folder"):
        resolve_model_dir(tmp_path / "absent")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "model_index.json").write_text(
        json.dumps({"transformer": ["diffusers", "X"], "vae": ["diffusers", "Y"]})
    )
    (tmp_path / "partial" / "vae").mkdir()
    with pytest.raises(FileNotFoundError, match="missing: transformer/"):
        resolve_model_dir(tmp_path / "partial")
    result = runner.invoke(
        app, ["generate", "--image", str(image_file), "--sections", "1", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and ENV_MODEL_DIR in result.stderr


def test_no_text_encoder_needs_prompt_embeds_and_says_so_before_loading(model_dir, image_file, monkeypatch):
    import diffusers

    def must_not_load(*args, **kwargs):
        raise AssertionError("the pipeline was loaded before the missing text encoders were reported")

    monkeypatch.setattr(diffusers.HunyuanVideoFramepackPipeline, "from_pretrained", must_not_load)
    with pytest.raises(ValueError, match="pass precomputed prompt embeddings with --prompt-embeds"):
        HunyuanBackend.from_pretrained(model_dir, device="cpu")


def test_broken_folders_exit_2_with_one_line(model_dir, prompt_file, image_file, tmp_path):
    import shutil

    corrupt = tmp_path / "corrupt"
    shutil.copytree(model_dir, corrupt)
    weights = next((corrupt / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    no_entry = tmp_path / "no_entry"
    shutil.copytree(model_dir, no_entry)
    index = json.loads((no_entry / "model_index.json").read_text())
    index.pop("transformer")
    (no_entry / "model_index.json").write_text(json.dumps(index))
    bad_json = tmp_path / "bad_json"
    shutil.copytree(model_dir, bad_json)
    (bad_json / "model_index.json").write_text("{not json")
    for folder, message in (
        (corrupt, "could not load the pipeline from"),
        (no_entry, "a 'transformer' entry in model_index.json (the folder transformer/ exists"),
        (bad_json, "model_index.json is not valid JSON"),
    ):
        out = tmp_path / f"out_{folder.name}"
        args = cli_args(folder, image_file, steps=1) + [
            "--prompt-embeds",
            str(prompt_file),
            "--out",
            str(out),
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (folder.name, result.output, result.exception)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not out.exists()


@pytest.mark.parametrize(
    "image,match",
    [
        (np.zeros((30, 32, 3), np.uint8), "not a multiple of 16"),
        (np.zeros((32, 32), np.uint8), r"must be \(H, W, 3\)"),
        (torch.zeros(32, 32, 3), r"must be \(3, H, W\)"),
        (torch.full((3, 32, 32), 2.0), r"must lie in \[0, 1\]"),
        ([1, 2, 3], "unsupported image type list"),
        ("/no/such/file.png", "image file not found"),
    ],
)
def test_bad_images(image, match):
    with pytest.raises(ValueError, match=match):
        to_tensor(image)


def test_mp4_round_trip(tmp_path):
    yy, xx = np.mgrid[0:48, 0:64]
    frames = np.stack(
        [np.stack([xx * 3 + t, yy * 4, np.full_like(xx, 128)], -1) for t in range(0, 40, 4)]
    ).astype(np.uint8)
    path = write_mp4(tmp_path / "v.mp4", frames, fps=10)
    back = read_mp4(path)
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 3  # H.264 at crf 18 on a smooth ramp
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "bad.mp4", frames.astype(np.float32))
    assert not (tmp_path / "bad.mp4").exists()


def test_group_offload_gives_the_same_video(model_dir, image_file):
    plain, grouped = _backend(model_dir), _backend(model_dir, offload="group")
    a = generate(plain, "vanilla", str(image_file), sections=1, seeds=[0], steps=2, decode=False)
    b = generate(grouped, "vanilla", str(image_file), sections=1, seeds=[0], steps=2, decode=False)
    torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="offload must be one of"):
        HunyuanBackend.from_pretrained(model_dir, device="cpu", offload="disk")


def test_bf16_path_runs_and_tracks_fp32(model_dir, image_file):
    fp32, bf16 = _backend(model_dir), _backend(model_dir, dtype=torch.bfloat16)
    assert bf16.denoiser.dtype == torch.bfloat16
    a = generate(fp32, "inverted", str(image_file), sections=1, seeds=[0], steps=2, decode=False).latents
    b = generate(bf16, "inverted", str(image_file), sections=1, seeds=[0], steps=2, decode=False).latents
    assert b.dtype == torch.float32  # the sampler state stays fp32; only the transformer runs in bf16
    assert (a - b).abs().mean() < 0.05 * a.abs().mean()
