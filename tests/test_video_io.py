"""Video files: MP4 and PNG-folder round trips, sidecars, and clear errors for broken input."""

import json

import numpy as np
import pytest

from fpeval.video import (
    read_frames,
    read_mp4,
    read_sidecar,
    read_video,
    sidecar_path,
    video_fps,
    write_frames,
    write_mp4,
    write_sidecar,
    write_video,
)


def _frames(t=6, h=32, w=48):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([np.stack([xx * 4 + 10 * i, yy * 6, np.full_like(xx, 90)], -1) for i in range(t)]).astype(
        np.uint8
    )


def test_mp4_is_h264_yuv420p_and_round_trips_with_its_sidecar(tmp_path):
    import av

    frames = _frames()
    meta = {"variant": "vanilla", "seed": 3, "frame_section": [0, 0, 0, 1, 1, 1]}
    path = write_video(tmp_path / "clip.mp4", frames, meta, fps=12)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    back, got = read_video(path)
    assert back.shape == frames.shape and np.abs(back.astype(int) - frames).mean() < 3
    assert got == {"fps": 12.0, **meta}
    assert sidecar_path(path) == tmp_path / "clip.json"
    assert video_fps(path) == 12.0


def test_mp4_without_sidecar_takes_the_container_fps(tmp_path):
    path = write_mp4(tmp_path / "bare.mp4", _frames(), fps=8)
    _, meta = read_video(path)
    assert meta == {"fps": 8.0}


def test_png_folder_round_trip_is_lossless_and_naturally_ordered(tmp_path):
    frames = _frames(t=12)
    folder = write_video(tmp_path / "clip", frames, {"variant": "x", "seed": 0}, fps=30)
    assert sorted(p.name for p in folder.iterdir())[:2] == ["frame_00000.png", "frame_00001.png"]
    assert (tmp_path / "clip.json").is_file()
    back, meta = read_video(folder)
    np.testing.assert_array_equal(back, frames)
    assert meta["fps"] == 30.0 and meta["seed"] == 0
    # natural order: frame_2 before frame_10 without zero padding
    other = tmp_path / "unpadded"
    other.mkdir()
    from PIL import Image

    for i in (10, 2, 1):
        Image.fromarray(frames[i]).save(other / f"f_{i}.png")
    np.testing.assert_array_equal(read_frames(other), frames[[1, 2, 10]])


def test_writes_are_atomic_and_validated(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_frames(tmp_path / "f", _frames().astype(np.float32))
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "e.mp4", np.zeros((0, 16, 16, 3), np.uint8))
    assert not (tmp_path / "e.mp4").exists()
    with pytest.raises(ValueError, match="accepted are"):
        write_video(tmp_path / "x.gif", _frames())
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"\x00\x01garbage" * 50, "not a readable video")],
)
def test_corrupt_or_empty_video_files_raise_value_errors(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_mp4(path)
    with pytest.raises(ValueError, match=message):
        read_video(path)


def test_truncated_mp4_is_reported(tmp_path):
    path = write_mp4(tmp_path / "ok.mp4", _frames(t=10), fps=10)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="cut.mp4"):
        read_mp4(cut)


def test_missing_paths_and_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .png frames"):
        read_frames(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_frames(mixed, _frames(t=2))
    from PIL import Image

    Image.fromarray(_frames(t=1, h=16)[0]).save(mixed / "frame_00002.png")
    with pytest.raises(ValueError, match="differ in size"):
        read_frames(mixed)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "frame_0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable PNG"):
        read_frames(broken)


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"fps": -1}, "fps must be a positive number"),
        ({"fps": "fast"}, "fps must be a positive number"),
        ({"seed": "one"}, "seed must be an integer"),
        ({"frame_section": [0, 1]}, "frame_section has 2 entries but the video has 6 frames"),
        ({"frame_section": "0,1"}, "frame_section must be a list of integers"),
    ],
)
def test_sidecar_validation(tmp_path, meta, message):
    path = write_mp4(tmp_path / "v.mp4", _frames(), fps=10)
    write_sidecar(path, meta)
    with pytest.raises(ValueError, match=message):
        read_video(path)


def test_sidecar_must_be_a_json_object(tmp_path):
    path = tmp_path / "v.mp4"
    (tmp_path / "v.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        read_sidecar(path)
    (tmp_path / "v.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_sidecar(path)
    assert read_sidecar(tmp_path / "other.mp4") == {}
    write_sidecar(path, {"fps": 24, "variant": "v"})
    assert json.loads((tmp_path / "v.json").read_text()) == {"fps": 24, "variant": "v"}


def test_metrics_video_io_is_the_same_module():
    import metrics.video_io as vio

    assert vio.read_video is read_video and vio.write_mp4 is write_mp4
