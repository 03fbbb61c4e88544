"""Discrete-history codebook (+D) and DiffusionForcing noise."""

import pytest
import torch

from fpeval.sampling.history import Codebook, diffusion_forcing_noise, latent_pixels


def clustered_latents(centres, per=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    k, c = centres.shape
    pix = centres.repeat_interleave(per, 0) + 0.01 * torch.randn(k * per, c, generator=g)
    pix = pix[torch.randperm(len(pix), generator=g)]
    return pix.T.reshape(1, c, len(pix) // 10, 2, 5)


def test_fit_recovers_well_separated_centres():
    centres = torch.tensor([[0.0, 0, 0, 0], [5, 5, 0, 0], [0, -5, 5, 0], [3, 0, 0, -6]])
    cb = Codebook.fit([clustered_latents(centres)], k=4, seed=0)
    dist = torch.cdist(centres, cb.centroids)
    assert (dist.min(dim=1).values < 0.01).all()  # every true centre found ...
    assert sorted(dist.argmin(dim=1).tolist()) == [0, 1, 2, 3]  # ... by a different centroid


def test_quantise_is_nearest_centroid_and_idempotent():
    cb = Codebook(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]))
    x = torch.tensor([[1.0, 1.0], [9.0, 2.0], [-1.0, 7.0]]).T.reshape(1, 2, 1, 1, 3)
    q = cb.quantise(x)
    assert q[0, :, 0, 0].T.tolist() == [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    assert torch.equal(cb.quantise(q), q)
    # brute-force nearest centroid on random data
    r = torch.randn(2, 2, 3, 4, 4)
    brute = torch.cdist(latent_pixels([r]), cb.centroids).argmin(1)
    assert torch.equal(cb.assign(r).reshape(-1), brute.reshape(2, 3, 4, 4).reshape(-1))


def test_k1_removes_all_memory():
    cb = Codebook.fit([torch.randn(2, 3, 4, 4, 4)], k=1)
    q = cb.quantise(torch.randn(1, 3, 2, 4, 4))
    assert torch.equal(q, cb.centroids[0].reshape(1, 3, 1, 1, 1).expand_as(q))


def test_save_load_round_trip_and_errors(tmp_path):
    cb = Codebook(torch.randn(16, 4))
    path = cb.save(tmp_path / "cb.safetensors")
    assert torch.equal(Codebook.load(path).centroids, cb.centroids)
    with pytest.raises(FileNotFoundError, match="codebook file not found"):
        Codebook.load(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        Codebook.load(tmp_path / "bad.safetensors")


def test_fit_errors():
    with pytest.raises(ValueError, match="positive integer"):
        Codebook.fit([torch.randn(1, 2, 1, 2, 2)], k=0)
    with pytest.raises(ValueError, match="need at least 10 latent pixels"):
        Codebook.fit([torch.randn(1, 2, 1, 2, 2)], k=10)
    with pytest.raises(ValueError, match="channels"):
        Codebook.fit([torch.randn(1, 2, 1, 2, 2), torch.randn(1, 3, 1, 2, 2)], k=1)


def test_diffusion_forcing_noise_levels():
    x0 = torch.randn(4, 4, 2, 8, 8)
    assert torch.equal(diffusion_forcing_noise(x0, 0.0, torch.Generator().manual_seed(0)), x0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    eps = torch.randn(x0.shape, generator=g2)
    torch.testing.assert_close(diffusion_forcing_noise(x0, 0.3, g1), 0.7 * x0 + 0.3 * eps)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        diffusion_forcing_noise(x0, 1.2)


def test_zero_padding_of_unknown_history_stays_zero_under_quantisation():
    cb = Codebook(torch.tensor([[0.3, -0.2], [4.0, 4.0]]))  # no centroid at zero
    x = torch.randn(2, 2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    x[:, :, 1] = 0  # a frame not generated yet
    x[1, :, 2] = 0  # padding in one video only
    q = cb.quantise(x)
    assert torch.equal(q[:, :, 1], torch.zeros_like(q[:, :, 1])) and torch.equal(
        q[1, :, 2], torch.zeros(2, 4, 4)
    )
    assert (q[0, :, 2] != 0).all() and (q[:, :, 0] != 0).all()  # real frames all map to centroids
    x[0, 0, 0, 0, 0] = 0.0  # one zero value inside a real frame is not padding
    assert (cb.quantise(x)[0, :, 0, 0, 0] != 0).all()
