"""Learned metrics through their real loading paths, with random weights written to temporary files.

Nothing here downloads: every test points the caches (TORCH_HOME, HF_HUB_CACHE, HOME) at empty
temporary folders first.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import metrics
from metrics.weights import MissingWeightsError

lpips = pytest.importorskip("lpips")
torchvision = pytest.importorskip("torchvision")
open_clip = pytest.importorskip("open_clip")


@pytest.fixture(autouse=True)
def offline_caches(tmp_path, monkeypatch):
    """Empty caches, no weight variables: only what a test writes can be found."""
    for var in [
        "FPEVAL_WEIGHTS_DIR",
        "FPEVAL_LPIPS_BACKBONE",
        "FPEVAL_CLIP_WEIGHTS",
        "FPEVAL_AESTHETIC_HEAD",
        "FPEVAL_RAFT_WEIGHTS",
        "FPEVAL_MUSIQ_WEIGHTS",
        "FPEVAL_FACENET_WEIGHTS",
        "FPEVAL_VICLIP_WEIGHTS",
        "FPEVAL_ANATOMY_DIR",
        "FPEVAL_AMT_WEIGHTS",
        "VBENCH2_CACHE_DIR",
        "VBENCH_CACHE_DIR",
    ]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def _moving(t=6, size=64):
    g = np.random.default_rng(0)
    base = g.integers(0, 256, (size, size + 4 * t, 3)).astype(np.uint8)
    return np.stack([base[:, 4 * i : 4 * i + size] for i in range(t)])


# ---- LPIPS ----


def _random_alexnet(path):
    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_lpips_loads_the_backbone_from_torch_home_and_scores_identical_frames_zero(offline_caches):
    path = offline_caches / "torch" / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    state = _random_alexnet(path)
    model = metrics.learned.load_lpips()
    torch.testing.assert_close(model.net.slice1[0].weight, state["features.0.weight"])
    torch.testing.assert_close(model.net.slice5._modules["10"].bias, state["features.10.bias"])
    static = np.repeat(_moving()[:1], 5, axis=0)
    df = metrics.compute(static, ["lpips"], device="cpu")
    assert df["metric"].unique().tolist() == ["lpips_first", "lpips_prev"]
    assert df["value"].abs().max() < 1e-6
    moving = metrics.compute(_moving(), ["lpips_prev"], device="cpu")["value"]
    assert (moving > 1e-4).all()


def test_lpips_batched_equals_per_frame(offline_caches):
    path = offline_caches / "w" / "alex.pth"
    _random_alexnet(path)
    video = _moving(7)
    a = metrics.compute(video, ["lpips_first"], device="cpu", weights={"lpips": str(path)}, batch_size=32)
    b = metrics.compute(video, ["lpips_first"], device="cpu", weights={"lpips": str(path)}, batch_size=1)
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-4, atol=1e-6)


def test_lpips_missing_backbone_names_file_place_and_variable(offline_caches):
    with pytest.raises(MissingWeightsError) as info:
        metrics.compute(_moving(), ["lpips_prev"], device="cpu")
    msg = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in msg
    assert str(offline_caches / "torch" / "hub" / "checkpoints") in msg
    assert "FPEVAL_LPIPS_BACKBONE" in msg and "--weights lpips=" in msg
    with pytest.raises(MissingWeightsError, match="does not exist"):
        metrics.compute(_moving(), ["lpips_prev"], device="cpu", weights={"lpips": "/nowhere/alex.pth"})


def test_lpips_rejects_a_checkpoint_of_another_network(offline_caches):
    path = offline_caches / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(MissingWeightsError, match="not a torchvision alex checkpoint"):
        metrics.compute(_moving(), ["lpips_prev"], device="cpu", weights={"lpips": str(path)})


# ---- CLIP aesthetic and semantic ----

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _tiny_clip_dir(folder):
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}}))
    torch.manual_seed(1)
    model = open_clip.create_model(f"local-dir:{folder}")  # random init (no weights in the folder yet)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return state


def _head(path, dim=32):
    torch.manual_seed(2)
    head = torch.nn.Linear(dim, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), path)
    return head


def test_clip_aesthetic_loads_local_files_and_follows_vbench(offline_caches):
    folder = offline_caches / "clip"
    state = _tiny_clip_dir(folder)
    head = _head(offline_caches / "heads" / "sa_0_4_vit_l_14_linear.pth")
    weights = {"clip": str(folder), "aesthetic_head": str(offline_caches / "heads")}
    video = _moving(4)
    df = metrics.compute(video, ["aesthetic_clip"], device="cpu", weights=weights)
    model, _, cfg = metrics.learned.load_clip(folder)
    torch.testing.assert_close(model.visual.conv1.weight, state["visual.conv1.weight"])
    # VBench: normalised image embedding -> linear head -> / 10
    from metrics.learned.clip_scores import preprocess_frames

    x = torch.from_numpy(video).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        emb = torch.nn.functional.normalize(model.encode_image(preprocess_frames(x, cfg)), dim=-1)
        expected = (head(emb).flatten() / 10).numpy()
    np.testing.assert_allclose(df["value"], expected, rtol=1e-4, atol=1e-6)
    assert cfg["size"] in (32, (32, 32))


def test_clip_semantic_needs_a_prompt_and_gives_cosines(offline_caches):
    folder = offline_caches / "clip"
    _tiny_clip_dir(folder)
    video = _moving(3)
    with pytest.raises(ValueError, match="prompt"):
        metrics.compute(video, ["semantic_clip"], device="cpu", weights={"clip": str(folder)})
    df = metrics.compute(
        video, ["semantic_clip"], device="cpu", weights={"clip": str(folder)}, prompt="a cat"
    )
    assert len(df) == 3 and (df["value"].abs() <= 1 + 1e-6).all()
    other = metrics.compute(
        video, ["semantic_clip"], device="cpu", weights={"clip": str(folder)}, prompt="a car"
    )
    assert not np.allclose(df["value"], other["value"])  # the prompt matters


def test_clip_is_found_in_the_hugging_face_cache_layout(offline_caches):
    from metrics.learned.clip_scores import clip_path

    snapshot = offline_caches / "hf" / "models--test--tiny-clip" / "snapshots" / "abc123"
    _tiny_clip_dir(snapshot)
    assert clip_path(hf_repo="test/tiny-clip") == snapshot / "open_clip_model.safetensors"


def test_clip_and_head_missing_give_the_promised_errors(offline_caches):
    with pytest.raises(MissingWeightsError) as info:
        metrics.compute(_moving(2), ["aesthetic_clip"], device="cpu")
    assert "open_clip_model.safetensors" in str(info.value) and "FPEVAL_CLIP_WEIGHTS" in str(info.value)
    assert "models--timm--vit_large_patch14_clip_224.openai" in str(info.value)
    folder = offline_caches / "clip"
    _tiny_clip_dir(folder)
    with pytest.raises(MissingWeightsError) as info:
        metrics.compute(_moving(2), ["aesthetic_clip"], device="cpu", weights={"clip": str(folder)})
    assert "sa_0_4_vit_l_14_linear.pth" in str(info.value) and "FPEVAL_AESTHETIC_HEAD" in str(info.value)


# ---- RAFT ----


def test_raft_loads_from_the_environment_variable_and_applies_vbench_rule(offline_caches, monkeypatch):
    from metrics.learned.raft_dynamic import DynamicDegreeRaft, DynamicRaft

    torch.manual_seed(3)
    model = torchvision.models.optical_flow.raft_small(weights=None)
    path = offline_caches / "raft_small.pth"
    torch.save(model.state_dict(), path)
    monkeypatch.setenv("FPEVAL_RAFT_WEIGHTS", str(path))
    pair, degree = DynamicRaft(), DynamicDegreeRaft()
    pair.arch = degree.arch = "raft_small"
    video = _moving(9)[:, :60, :60]  # 60 px: padded to 64 inside
    df = metrics.compute(video, [pair, degree], device="cpu", fps=16)  # every 2nd frame
    flows = df[df["metric"] == "dynamic_raft"]
    assert flows["frame"].tolist() == [2, 4, 6, 8]
    assert np.isfinite(flows["value"]).all() and (flows["value"] >= 0).all()
    deg = df[df["metric"] == "dynamic_degree_raft"]["value"].item()
    # 5 sampled frames: need round(4 * 5 / 16) = 1 pair above 6 * 60 / 256 among all but the last two
    assert deg == float((flows["value"].to_numpy()[:-2] > 6 * 60 / 256).sum() >= 1)
    loaded = metrics.learned.load_raft("raft_small")
    first = next(iter(model.state_dict()))
    torch.testing.assert_close(loaded.state_dict()[first], model.state_dict()[first])


def test_raft_missing_weights_error(offline_caches):
    with pytest.raises(MissingWeightsError) as info:
        metrics.compute(_moving(3), ["dynamic_raft"], device="cpu")
    msg = str(info.value)
    assert "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in msg and "FPEVAL_RAFT_WEIGHTS" in msg
    assert str(offline_caches / "torch" / "hub" / "checkpoints") in msg


def test_one_weights_folder_serves_every_loader(offline_caches, monkeypatch):
    from metrics.learned.clip_scores import head_path
    from metrics.learned.lpips_consistency import backbone_path
    from metrics.learned.raft_dynamic import raft_path

    folder = offline_caches / "models"
    for name in (
        "alexnet-owt-7be5be79.pth",
        "sa_0_4_vit_l_14_linear.pth",
        "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
    ):
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"x")
    monkeypatch.setenv("FPEVAL_WEIGHTS_DIR", str(folder))
    assert backbone_path() == folder / "alexnet-owt-7be5be79.pth"
    assert head_path() == folder / "sa_0_4_vit_l_14_linear.pth"
    assert raft_path() == folder / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    monkeypatch.setenv(
        "FPEVAL_RAFT_WEIGHTS", str(offline_caches / "elsewhere.pth")
    )  # a wrong variable wins, loudly
    with pytest.raises(MissingWeightsError, match=r"\$FPEVAL_RAFT_WEIGHTS=.*does not exist"):
        raft_path()


# ---- weights fetched like the field: once into the standard cache, then offline ----


def _online(monkeypatch):
    monkeypatch.delenv("FPEVAL_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_a_missing_file_is_downloaded_once_into_torch_hubs_cache(offline_caches, monkeypatch, tmp_path):
    from metrics.learned import clip_scores

    published = tmp_path / "published" / "sa_0_4_vit_l_14_linear.pth"
    published.parent.mkdir()
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(768, 1).state_dict(), published)
    monkeypatch.setattr(clip_scores, "HEAD_URL", published.as_uri())
    _online(monkeypatch)
    cached = offline_caches / "torch" / "hub" / "checkpoints" / "sa_0_4_vit_l_14_linear.pth"
    assert clip_scores.head_path() == cached and cached.read_bytes() == published.read_bytes()
    published.unlink()
    monkeypatch.setenv("FPEVAL_OFFLINE", "1")
    assert clip_scores.head_path() == cached  # reused offline
    head = clip_scores.load_aesthetic_head()
    assert head.weight.shape == (1, 768)


def test_a_download_with_the_wrong_hash_leaves_nothing_in_the_cache(offline_caches, monkeypatch, tmp_path):
    from metrics.learned import raft_dynamic

    published = tmp_path / "models" / "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
    published.parent.mkdir()
    published.write_bytes(b"not the published weights")
    monkeypatch.setattr(raft_dynamic, "TORCHVISION_MODELS", (tmp_path / "models").as_uri())
    _online(monkeypatch)
    with pytest.raises(MissingWeightsError) as info:
        raft_dynamic.raft_path()
    msg = str(info.value)
    assert "\n" not in msg and "failed" in msg and "ff5fadd5" in msg
    checkpoints = offline_caches / "torch" / "hub" / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())


def test_offline_or_unreachable_gives_one_line_naming_file_cache_and_remedy(offline_caches, monkeypatch):
    from metrics.learned import lpips_consistency, raft_dynamic

    cache = offline_caches / "torch" / "hub" / "checkpoints"
    with pytest.raises(MissingWeightsError) as info:  # offline (the fixture sets HF_HUB_OFFLINE)
        raft_dynamic.raft_path()
    msg = str(info.value)
    assert "\n" not in msg and "downloads are off" in msg
    assert "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in msg and str(cache) in msg
    assert "https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth" in msg
    assert "FPEVAL_RAFT_WEIGHTS=" in msg and "--weights raft=" in msg
    _online(monkeypatch)
    monkeypatch.setattr(lpips_consistency, "TORCHVISION_MODELS", "http://127.0.0.1:9/models")  # refused
    with pytest.raises(MissingWeightsError) as info:
        lpips_consistency.backbone_path()
    msg = str(info.value)
    assert (
        "\n" not in msg
        and "downloading it from http://127.0.0.1:9/models/alexnet-owt-7be5be79.pth failed" in msg
    )
    assert str(cache) in msg and "FPEVAL_LPIPS_BACKBONE=" in msg


def test_clip_is_fetched_from_the_hugging_face_hub_into_its_cache(offline_caches, monkeypatch):
    import huggingface_hub

    from metrics.learned.clip_scores import clip_path

    calls = []

    def fake_download(repo_id, filename, cache_dir=None, **_):  # writes where the hub would
        calls.append((repo_id, filename, cache_dir))
        target = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "rev1" / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"weights")
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    _online(monkeypatch)
    found = clip_path(hf_repo="test/tiny-clip")
    assert calls == [("test/tiny-clip", "open_clip_model.safetensors", str(offline_caches / "hf"))]
    assert (
        found
        == offline_caches
        / "hf"
        / "models--test--tiny-clip"
        / "snapshots"
        / "rev1"
        / "open_clip_model.safetensors"
    )
    calls.clear()
    assert clip_path(hf_repo="test/tiny-clip") == found and not calls  # the cache is used from then on


def test_metrics_command_offline_fails_in_one_line(offline_caches, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from fpeval.cli import app
    from metrics.video_io import write_video

    _online(monkeypatch)
    video = write_video(tmp_path / "v.mp4", _moving(4), fps=8)
    result = CliRunner().invoke(app, ["metrics", str(video), "-m", "dynamic_raft", "--offline"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and "downloads are off" in lines[0]
        and "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in lines[0]
    )


def test_the_paper_set_is_the_seven_columns_and_each_fails_offline_in_one_line(offline_caches):
    from metrics.paper import PAPER_METRICS
    from metrics.weights import MissingBackendError

    names = [m.name for m in metrics.registry.expand("paper")]
    assert names == [
        "clarity_musiq",
        "aesthetic_clip",
        "motion_smoothness_amt",
        "dynamic_degree_raft",
        "semantic_viclip",
        "anatomy",
        "identity_facenet",
    ]
    assert list(PAPER_METRICS) == [
        "Clarity",
        "Aesthetic",
        "Motion",
        "Dynamic",
        "Semantic",
        "Anatomy",
        "Identity",
    ]
    for name in names:
        if not metrics.registry[name].needs_weights:
            continue  # motion smoothness is weight-free
        with pytest.raises((MissingWeightsError, MissingBackendError)) as info:
            metrics.compute(_moving(3, size=128), [name], device="cpu", prompt="a scene")
        msg = str(info.value)
        assert "\n" not in msg  # one line
        assert name in msg or "weights" in msg  # names the metric or the weights it lacks


# ---- MUSIQ clarity (pyiqa's MUSIQ, VBench's imaging quality) ----


def _random_musiq(path):
    from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(0)
    net = MUSIQ(pretrained=False)  # the SPAQ checkpoint's layout: one score, no class head
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


def test_musiq_found_in_vbenchs_cache_scores_each_frame_as_vbenchs_loop(offline_caches):
    from metrics.learned.musiq import MUSIQ_FILE

    net = _random_musiq(offline_caches / "home" / ".cache" / "vbench" / "pyiqa_model" / MUSIQ_FILE)
    video = _moving(3)
    df = metrics.compute(video, ["clarity_musiq"], device="cpu", batch_size=2)
    assert df["frame"].tolist() == [0, 1, 2]
    with torch.no_grad():  # VBench's loop: one frame at a time, uint8 / 255, score / 100
        expected = [float(net(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255)) / 100 for f in video]
    np.testing.assert_allclose(df["value"].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert len(set(np.round(expected, 6))) == 3  # the frames differ, so must their scores


def test_musiq_resizes_like_vbenchs_longer_mode_and_reads_pyiqas_cache(offline_caches):
    from torchvision.transforms import functional as TF

    from metrics.learned.musiq import MUSIQ_FILE, musiq_path, vbench_frames

    tall = np.random.default_rng(1).integers(0, 256, (2, 600, 300, 3)).astype(np.uint8)
    out = vbench_frames(tall)
    assert out.shape == (2, 3, 512, 256)
    ref = TF.resize(torch.from_numpy(tall).permute(0, 3, 1, 2), [512, 256], antialias=False).float() / 255
    assert torch.equal(out, ref)  # resized as uint8, then / 255
    small = _moving(2)
    assert torch.equal(vbench_frames(small), torch.from_numpy(small).permute(0, 3, 1, 2).float() / 255)
    with pytest.raises(MissingWeightsError, match=MUSIQ_FILE):
        musiq_path()
    pyiqa_cache = offline_caches / "torch" / "hub" / "pyiqa" / MUSIQ_FILE
    pyiqa_cache.parent.mkdir(parents=True)
    pyiqa_cache.write_bytes(b"")
    assert musiq_path() == pyiqa_cache


def test_musiq_rejects_a_checkpoint_of_another_network(offline_caches, monkeypatch):
    path = offline_caches / "not_musiq.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    monkeypatch.setenv("FPEVAL_MUSIQ_WEIGHTS", str(path))
    with pytest.raises(MissingWeightsError, match="not a MUSIQ"):
        metrics.compute(_moving(2), ["clarity_musiq"], device="cpu")


# ---- face presence with the cascade OpenCV ships ----


def test_face_presence_separates_lfw_faces_from_non_faces_with_shipped_weights():
    """Real weights, real data: scikit-image's LFW subset (100 faces, then 100 non-face crops)."""
    from skimage.data import lfw_subset
    from sklearn.metrics import roc_auc_score

    from metrics.learned.faces import _load, cascade_path, face_scores

    grey = (lfw_subset() * 255).round().astype(np.uint8)
    frames = np.repeat(grey[..., None], 3, axis=-1)
    scores = face_scores(frames, _load(str(cascade_path())))
    labels = np.r_[np.ones(100), np.zeros(100)]
    auc = roc_auc_score(labels, scores)
    assert auc > 0.9, auc  # 0.98 with opencv-python-headless 4.14
    assert (scores[100:] == 0).mean() > 0.9  # non-faces: almost never a detection


def test_face_presence_runs_through_the_registry_and_falls_to_zero_when_the_face_goes():
    from skimage.data import lfw_subset

    face = np.repeat((lfw_subset()[0] * 255).astype(np.uint8)[..., None], 3, axis=-1)
    video = np.stack([face] * 3 + [np.full_like(face, 128)] * 3)  # the face, then grey frames
    per_frame = metrics.compute(video, ["anatomy_face"], device="cpu")
    values = per_frame["value"].to_numpy()
    assert (values[:3] > 0).all() and (values[3:] == 0).all()
    assert [m.name for m in metrics.registry.expand("faces")] == [
        "anatomy_face",
        "face_mtcnn",
        "identity_facenet",
    ]


# ---- MTCNN (weights shipped in facenet-pytorch) and FaceNet identity ----


def _lfw_rgb(indices, side=96):
    """scikit-image's LFW crops (0-99 faces, 100-199 non-faces) as RGB frames of ``side`` px."""
    from PIL import Image
    from skimage.data import lfw_subset

    grey = (lfw_subset()[list(indices)] * 255).round().astype(np.uint8)
    return np.stack(
        [np.array(Image.fromarray(g).resize((side, side), Image.BILINEAR).convert("RGB")) for g in grey]
    )


def test_mtcnn_separates_lfw_faces_from_non_faces_with_shipped_weights():
    """Real weights, real data: 40 LFW faces against 40 non-face crops."""
    from sklearn.metrics import roc_auc_score

    from metrics.learned.face_identity import detect_faces, load_mtcnn

    frames = _lfw_rgb([*range(40), *range(100, 140)])
    _, prob = detect_faces(frames, load_mtcnn("cpu"))
    auc = roc_auc_score(np.r_[np.ones(40), np.zeros(40)], prob)
    assert auc > 0.9, auc  # 0.99 over all 200 with facenet-pytorch 2.6.0
    assert (prob[:40] > 0).mean() > 0.9 and (prob[40:] == 0).mean() > 0.9


def test_identity_facenet_on_random_weights_in_facenet_pytorchs_cache(offline_caches):
    from facenet_pytorch import InceptionResnetV1

    from metrics.learned.face_identity import FACENET_FILE, VGGFACE2_CLASSES, detect_faces, load_mtcnn

    torch.manual_seed(0)
    net = InceptionResnetV1(classify=True, num_classes=VGGFACE2_CLASSES)  # the checkpoint's layout
    path = offline_caches / "torch" / "checkpoints" / FACENET_FILE  # $TORCH_HOME/checkpoints
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    video = _lfw_rgb([0, 0, 1, 150])  # a face, the same face, another person, no face
    df = metrics.compute(video, ["identity_facenet", "face_mtcnn"], device="cpu")
    identity = df[df["metric"] == "identity_facenet"]
    assert identity["frame"].tolist() == [1, 2, 3]
    same, other, missing = identity["value"].tolist()
    assert same == pytest.approx(1.0, abs=1e-5) and missing == 0.0
    crops, _ = detect_faces(video, load_mtcnn("cpu"))
    with torch.no_grad():  # independently: the embedding model without its classifier, unit norm
        net.classify = False
        emb = net.eval()(crops[[0, 2]])
    assert other == pytest.approx(float(emb[0] @ emb[1]), abs=1e-6)
    presence = df[df["metric"] == "face_mtcnn"]["value"].to_numpy()
    assert (presence[:3] > 0.9).all() and presence[3] == 0


def test_face_cascade_missing_and_offline_is_one_line(offline_caches, monkeypatch):
    from metrics.learned import faces

    monkeypatch.setattr(faces, "_opencv_data", lambda: [])  # as with opencv 5.x wheels
    with pytest.raises(MissingWeightsError) as info:
        faces.cascade_path()
    msg = str(info.value)
    assert "\n" not in msg and "haarcascade_frontalface_default.xml" in msg and "FPEVAL_FACE_CASCADE" in msg


# ---- ViCLIP semantic score (VBench's overall consistency) ----


def _tiny_clip():
    """An open_clip CLIP with QuickGELU, 224 px / patch 14 and a 32-token context, random weights."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(0)
    vision = CLIPVisionCfg(layers=2, width=64, patch_size=14, image_size=224, head_width=64)
    text = CLIPTextCfg(context_length=32, vocab_size=49408, width=64, heads=1, layers=2)
    return CLIP(32, vision, text, quick_gelu=True).eval()


def _viclip_checkpoint(clip, path, temporal=None):
    """ViCLIP's file layout, {"model": state}, holding ``clip``'s towers: VBench's key names, the patch
    convolution as a (1, p, p) Conv3d and 8 temporal positions (zeros unless given)."""
    state = {"temp": torch.tensor(0.01)}
    for key, value in clip.state_dict().items():
        if key.startswith("visual."):
            name = "vision_encoder." + key.removeprefix("visual.")
            state[name] = value.unsqueeze(2) if key == "visual.conv1.weight" else value
        elif key != "logit_scale" and not key.endswith("attn_mask"):
            state["text_encoder." + key] = value
    width = state["vision_encoder.class_embedding"].shape[0]
    state["vision_encoder.temporal_positional_embedding"] = (
        torch.zeros(1, 8, width) if temporal is None else temporal
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state}, path)
    return state


def test_viclip_takes_vbenchs_middle_frames():
    from metrics.learned.viclip import middle_frame_indices

    # get_frame_indices(8, n, sample="middle"): the middle of 8 equal intervals, the last repeated
    assert middle_frame_indices(8, 91) == [5, 16, 27, 39, 50, 61, 73, 84]
    assert middle_frame_indices(8, 8) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert middle_frame_indices(8, 5) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert middle_frame_indices(8, 1) == [0] * 8
    with pytest.raises(ValueError, match="at least one frame"):
        middle_frame_indices(8, 0)


def test_viclip_preprocessing_is_vbenchs_clip_transform():
    from torchvision import transforms as T

    from metrics.learned.viclip import middle_frame_indices, viclip_frames

    video = np.random.default_rng(1).integers(0, 256, (20, 120, 160, 3)).astype(np.uint8)
    vbench = T.Compose(  # vbench.utils.clip_transform(224) on (T, C, H, W) uint8 frames
        [
            T.Resize(224, interpolation=T.InterpolationMode.BICUBIC, antialias=False),
            T.CenterCrop(224),
            T.Lambda(lambda x: x.float().div(255.0)),
            T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ]
    )
    expected = vbench(torch.from_numpy(video[middle_frame_indices(8, 20)]).permute(0, 3, 1, 2))
    assert torch.equal(viclip_frames(video), expected)


def test_viclip_towers_equal_open_clips_on_the_same_weights(offline_caches):
    from metrics.learned.viclip import ViCLIP, tokenize

    clip = _tiny_clip()
    state = _viclip_checkpoint(clip, offline_caches / "viclip.pth")
    model = ViCLIP.from_state_dict(state).eval()
    tokens = tokenize(["a red fox jumps over a log", "waves"], context=32)
    assert tokens.shape == (2, 32) and tokens[0].argmax() == 8  # start, 7 words, end
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        # text: CLIP's own text tower; one frame: CLIP's image tower (ViCLIP adds the temporal mean, 0 here)
        torch.testing.assert_close(model.text_encoder(tokens), clip.encode_text(tokens), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            model.vision_encoder(images[:, None]), clip.encode_image(images), atol=1e-5, rtol=1e-5
        )


def test_semantic_viclip_on_random_weights_in_vbenchs_cache(offline_caches):
    from metrics.learned.viclip import VICLIP_FILE, ViCLIP, tokenize, viclip_frames

    clip = _tiny_clip()
    path = offline_caches / "home" / ".cache" / "vbench" / "ViCLIP" / VICLIP_FILE
    torch.manual_seed(1)
    state = _viclip_checkpoint(clip, path, temporal=torch.randn(1, 8, 64))
    video = _moving(12)
    with pytest.raises(ValueError, match="needs the video's prompt"):
        metrics.compute(video, ["semantic_viclip"], device="cpu")
    df = metrics.compute(video, ["semantic_viclip"], device="cpu", prompt="a moving texture")
    assert df["frame"].tolist() == [-1] and len(df) == 1  # one number per video
    model = ViCLIP.from_state_dict(state).eval()
    with torch.no_grad():  # the cosine of the two towers' embeddings
        v = torch.nn.functional.normalize(model.vision_encoder(viclip_frames(video)[None]), dim=-1)
        t = torch.nn.functional.normalize(model.text_encoder(tokenize(["a moving texture"], 32)), dim=-1)
        reversed_frames = viclip_frames(video[::-1].copy())[None]
        r = torch.nn.functional.normalize(model.vision_encoder(reversed_frames), dim=-1)
    assert df["value"].iloc[0] == pytest.approx(float(v[0] @ t[0]), abs=1e-6)
    assert abs(float(r[0] @ t[0]) - float(v[0] @ t[0])) > 1e-4  # the temporal positions tell order


def test_viclip_rejects_another_checkpoint_and_fails_offline_in_one_line(offline_caches, monkeypatch):
    from metrics.learned.viclip import VICLIP_FILE, load_viclip

    with pytest.raises(MissingWeightsError) as info:
        load_viclip()
    msg = str(info.value)
    assert "\n" not in msg and VICLIP_FILE in msg and "FPEVAL_VICLIP_WEIGHTS" in msg
    assert "OpenGVLab/VBench_Used_Models" in msg
    wrong = offline_caches / "wrong.pth"
    torch.save({"model": {"conv.weight": torch.zeros(1)}}, wrong)
    with pytest.raises(MissingWeightsError, match="is not a ViCLIP checkpoint"):
        load_viclip(wrong)


# ---- VBench-2.0 human anatomy (SimMIM ViT classifiers on detected crops) ----


def test_square_crop_follows_vbench2s_smart_cut():
    from metrics.learned.anatomy import square_crop

    frame = np.arange(100 * 100).reshape(100, 100)
    # the longer side's square, centred on the box where it fits: rows 20..60, columns 0..40
    crop = square_crop(frame, (10, 20, 30, 60))
    assert crop.shape == (40, 40) and crop[0, 0] == frame[20, 0]
    # at the border the square moves inside the frame (columns 60..100) and still covers the box
    crop = square_crop(frame, (90, 10, 99, 50))
    assert crop.shape == (40, 40) and crop[0, 0] == frame[10, 60]
    # a box too wide for any square of its longer side inside a 40-row frame: the shorter side's
    wide = frame[:40]
    crop = square_crop(wide, (10, 0, 70, 40))
    assert crop.shape == (40, 40) and crop[0, 0] == wide[0, 20]
    with pytest.raises(ValueError, match="positive width and height"):
        square_crop(frame, (10, 10, 10, 30))


def test_anatomy_rule_counts_a_person_abnormal_when_any_crop_passes_its_threshold():
    from metrics.learned.anatomy import anatomy_scores

    frames = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    box = (8.0, 8.0, 40.0, 40.0)
    people = [
        [{"face": [box]}, {"face": [box], "hand": [box]}],  # 2 people
        [],  # nobody
        [{"human": [box], "hand": [box]}],
    ]
    # the abnormal probability each call returns, per category, in the order the crops are made
    answers = {"face": [0.5, 0.2], "hand": [0.1, 0.33], "human": [0.45]}

    def classify(category, crops):
        assert all(c.shape == (32, 32, 3) for c in crops)
        return answers[category][: len(crops)]

    # frame 0: person 0's face 0.5 > 0.303 (abnormal), person 1's face 0.2 and hand 0.1 (normal): 1 - 1/2
    # frame 1: 1 without people; frame 2: human 0.45 < 0.4545 but hand 0.33 > 0.3232: abnormal
    np.testing.assert_allclose(anatomy_scores(frames, people, classify), [0.5, 1.0, 0.0])


def _random_beit_checkpoints(folder, abnormal_logit):
    """Three small SimMIM-layout classifiers ({"model": state}, index tables included) whose head says
    'abnormal' with logit ``abnormal_logit`` against 0, whatever the input."""
    from timm.models.beit import Beit

    folder.mkdir(parents=True, exist_ok=True)
    for category in ("human", "face", "hand"):
        torch.manual_seed(0)
        net = Beit(
            img_size=224,
            patch_size=16,
            num_classes=2,
            embed_dim=48,
            depth=2,
            num_heads=3,
            use_abs_pos_emb=False,
            use_rel_pos_bias=True,
            init_values=0.1,
            global_pool="avg",
        )
        state = net.state_dict()
        for name, value in net.named_buffers():
            if name.endswith("relative_position_index"):
                state[name] = value  # SimMIM keeps them in the checkpoint
        state["head.weight"] = torch.zeros_like(state["head.weight"])
        state["head.bias"] = torch.tensor([float(abnormal_logit), 0.0])
        torch.save({"model": state}, folder / f"{category}.pth")


@pytest.mark.parametrize("abnormal_logit, with_face", [(6.0, 0.0), (-6.0, 1.0)])
def test_anatomy_runs_on_random_weights_in_vbench2s_cache_with_mtcnn_faces(
    offline_caches, abnormal_logit, with_face
):
    _random_beit_checkpoints(
        offline_caches / "home" / ".cache" / "vbench2" / "anomaly_detector", abnormal_logit
    )
    video = _lfw_rgb([0, 1, 150, 160])  # two faces, two non-faces
    df = metrics.compute(video, ["anatomy"], device="cpu")
    assert df["frame"].tolist() == [0, 1, 2, 3]
    # faces are judged by the face classifier; frames without people score 1
    assert df["value"].tolist() == [with_face, with_face, 1.0, 1.0]


def test_anatomy_and_the_face_metrics_share_one_mtcnn_pass(offline_caches, monkeypatch):
    from metrics.learned import face_identity

    _random_beit_checkpoints(offline_caches / "home" / ".cache" / "vbench2" / "anomaly_detector", -6.0)
    real, calls = face_identity.load_mtcnn("cpu"), []

    class Counting:
        def detect(self, frames):
            calls.append(len(frames))
            return real.detect(frames)

        def extract(self, *args):
            return real.extract(*args)

    monkeypatch.setattr(face_identity, "load_mtcnn", lambda device="cpu": Counting())
    df = metrics.compute(_lfw_rgb([0, 150]), ["face_mtcnn", "anatomy"], device="cpu")
    assert calls == [2]  # one detection over the video's two frames, used by both metrics
    assert df[df["metric"] == "anatomy"]["value"].tolist() == [1.0, 1.0]


def test_anatomy_classifier_input_is_bgr_resized_and_cropped():
    from metrics.learned.anatomy import classifier_input

    crop = np.zeros((50, 50, 3), dtype=np.uint8)
    crop[..., 0] = 255  # pure red in RGB
    x = classifier_input([crop])
    assert x.shape == (1, 3, 224, 224)
    # VBench-2.0 hands OpenCV's BGR crops to the classifier: red arrives in the last channel
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[0, :, 100, 100].numpy(), (np.array([0, 0, 1]) - mean) / std, atol=1e-5)


def test_anatomy_missing_weights_and_foreign_checkpoints_fail_in_one_line(offline_caches):
    from metrics.learned.anatomy import load_classifier

    with pytest.raises(MissingWeightsError) as info:
        load_classifier("face")
    msg = str(info.value)
    assert "\n" not in msg and "face.pth" in msg and "FPEVAL_ANATOMY_DIR" in msg and "drive.google" in msg
    folder = offline_caches / "foreign"
    folder.mkdir()
    torch.save({"model": {"conv.weight": torch.zeros(1)}}, folder / "face.pth")
    with pytest.raises(MissingWeightsError, match="not a SimMIM ViT classifier"):
        load_classifier("face", folder)
    with pytest.raises(ValueError, match="accepted: human, face, hand"):
        load_classifier("body")


def test_the_paper_set_runs_on_random_weights_in_every_cache_layout(offline_caches):
    """The seven columns at once, each model's random weights where its downloader would put them:
    VBench's caches (MUSIQ, ViCLIP, AMT-S), VBench-2.0's (anatomy), torch hub (aesthetic head, RAFT) and
    facenet-pytorch's (FaceNet). CLIP's cache file is read as ViT-L/14, so the tiny CLIP is passed as
    its open_clip folder (its cache lookup is tested above)."""
    from metrics.learned.face_identity import FACENET_FILE, VGGFACE2_CLASSES
    from metrics.learned.musiq import MUSIQ_FILE
    from metrics.learned.viclip import VICLIP_FILE

    home, hub = offline_caches / "home" / ".cache", offline_caches / "torch" / "hub" / "checkpoints"
    _random_musiq(home / "vbench" / "pyiqa_model" / MUSIQ_FILE)
    _tiny_clip_dir(offline_caches / "clip")
    _head(hub / "sa_0_4_vit_l_14_linear.pth")
    torch.manual_seed(0)
    torch.save(
        torchvision.models.optical_flow.raft_large(weights=None).state_dict(),
        hub / "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
    )
    _viclip_checkpoint(_tiny_clip(), home / "vbench" / "ViCLIP" / VICLIP_FILE)
    _random_beit_checkpoints(home / "vbench2" / "anomaly_detector", abnormal_logit=-6.0)
    from facenet_pytorch import InceptionResnetV1

    facenet = offline_caches / "torch" / "checkpoints" / FACENET_FILE
    facenet.parent.mkdir(parents=True)
    torch.save(InceptionResnetV1(classify=True, num_classes=VGGFACE2_CLASSES).state_dict(), facenet)
    _random_amt(home / "vbench" / "amt_model" / "amt-s.pth")
    video = _lfw_rgb([0, 0, 0, 1, 1, 1, 2, 2], side=128)  # AMT-S needs 128 px
    clip = {"clip": str(offline_caches / "clip")}
    df = metrics.compute(video, "paper", device="cpu", fps=8, prompt="a face", weights=clip)
    per_metric = df.groupby("metric", sort=False)["frame"].apply(list)
    assert list(per_metric.index) == [m.name for m in metrics.registry.expand("paper")]
    assert per_metric["semantic_viclip"] == [-1] and per_metric["clarity_musiq"] == list(range(8))
    assert np.isfinite(df["value"]).all()


# ---- AMT-S motion smoothness (VBench) ----


def _random_amt(path):
    from metrics.learned.amt import AMTS

    torch.manual_seed(0)
    net = AMTS().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict()}, path)
    return net


def test_amt_has_the_checkpoints_layout():
    from metrics.learned.amt import AMTS

    state = AMTS().state_dict()
    # VBench's AMT-S (networks/AMT-S.py Model(corr_radius=3, corr_lvls=4, num_flows=3)): 213 tensors
    assert len(state) == 213 and sum(v.numel() for v in state.values()) == 2_990_543
    for key in (
        "feat_encoder.layer2.0.downsample.0.weight",
        "encoder.pyramid4.1.1.weight",
        "decoder4.convblock.1.conv5.weight",
        "decoder1.convblock.2.weight",
        "update3.gru.2.weight",
        "update2.flow_head.2.bias",
        "comb_block.1.weight",
    ):
        assert key in state, key
    assert state["decoder1.convblock.2.weight"].shape == (60, 24, 4, 4)  # 8 x 3 flows out of 3 x 20


def test_amt_scores_odd_frames_like_vbench_with_a_known_interpolator():
    from metrics.learned.amt import odd_frame_scores

    class Midpoint(torch.nn.Module):  # a perfect interpolator for linear brightness ramps
        def forward(self, a, b):
            assert a.shape[-2:] == (144, 160)  # 130 x 150 padded to multiples of 16
            return (a + b) / 2

    ramp = np.stack([np.full((130, 150, 3), 10 * t, dtype=np.uint8) for t in range(8)])
    np.testing.assert_allclose(odd_frame_scores(Midpoint(), ramp, batch_size=2), [1.0, 1.0, 1.0])
    shifted = ramp.copy()
    shifted[1::2] += 20  # each odd frame 20 levels off its neighbours' mean
    np.testing.assert_allclose(odd_frame_scores(Midpoint(), shifted), [(255 - 20) / 255] * 3)


def test_motion_smoothness_amt_on_random_weights_in_vbenchs_cache(offline_caches):
    from metrics.learned.amt import load_amt, odd_frame_scores

    _random_amt(offline_caches / "home" / ".cache" / "vbench" / "amt_model" / "amt-s.pth")
    video = _moving(7, size=128)
    df = metrics.compute(video, ["motion_smoothness_amt"], device="cpu", batch_size=4)
    assert df["frame"].tolist() == [1, 3, 5] and ((df["value"] >= 0) & (df["value"] <= 1)).all()
    one_at_a_time = odd_frame_scores(load_amt(), video, batch_size=1)  # as VBench runs it
    np.testing.assert_allclose(df["value"], one_at_a_time, atol=1e-4)
    with pytest.raises(ValueError, match="at least 128 px a side"):
        metrics.compute(_moving(7, size=64), ["motion_smoothness_amt"], device="cpu")


def test_amt_missing_weights_and_foreign_checkpoints_fail_in_one_line(offline_caches):
    from metrics.learned.amt import load_amt

    with pytest.raises(MissingWeightsError) as info:
        load_amt()
    msg = str(info.value)
    assert "\n" not in msg and "amt-s.pth" in msg and "FPEVAL_AMT_WEIGHTS" in msg and "lalala125/AMT" in msg
    wrong = offline_caches / "wrong.pth"
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, wrong)
    with pytest.raises(MissingWeightsError, match="not an AMT-S checkpoint"):
        load_amt(wrong)
