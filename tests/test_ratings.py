import math

import numpy as np
import pandas as pd
import pytest

from metrics import agreement, ratings

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def frame(rows, annotator="h1"):
    """Votes from (left, right, choice) tuples, one second apart."""
    return pd.DataFrame(
        [
            {
                "left": a,
                "right": b,
                "choice": c,
                "annotator": annotator,
                "created_at": T0 + pd.Timedelta(seconds=i),
            }
            for i, (a, b, c) in enumerate(rows)
        ]
    )


def synthetic(n_votes=3000, n=6, seed=1, tie_rate=0.15, both_bad_rate=0.05):
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(n)]
    strength = rng.normal(0, 1, n)
    rows = []
    for _ in range(n_votes):
        a, b = rng.choice(n, 2, replace=False)
        u = rng.random()
        if u < tie_rate:
            c = "tie"
        elif u < tie_rate + both_bad_rate:
            c = "both_bad"
        else:
            c = "left" if rng.random() < 1 / (1 + np.exp(strength[b] - strength[a])) else "right"
        rows.append((names[a], names[b], c))
    return frame(rows), names


def test_bradley_terry_equals_choix_with_ties_as_one_win_each_way():
    choix = pytest.importorskip("choix")
    votes, names = synthetic()
    ours = ratings.bradley_terry(votes).reindex(names).to_numpy()
    data = []
    for left, right, choice in zip(votes["left"], votes["right"], votes["choice"], strict=True):
        a, b = names.index(left), names.index(right)
        if choice == "left":
            data += [(a, b), (a, b)]
        elif choice == "right":
            data += [(b, a), (b, a)]
        else:  # tie and both_bad (counted as a tie by default): one win each way
            data += [(a, b), (b, a)]
    theta = choix.ilsr_pairwise(len(names), data, alpha=0.0, tol=1e-13, max_iter=10_000)
    reference = (theta - theta.mean()) * 400 / math.log(10) + 1000
    assert np.abs(ours - reference).max() < 1e-6
    assert ours.std() > 50  # a non-trivial problem


def test_bradley_terry_probability_scale_and_gauge():
    # A beats B in 3 of 4 votes: P = 0.75, so R_A - R_B = 400 log10(3).
    votes = frame([("A", "B", "left")] * 3 + [("A", "B", "right")])
    bt = ratings.bradley_terry(votes)
    assert bt["A"] - bt["B"] == pytest.approx(400 * math.log10(3), abs=1e-9)
    assert bt.mean() == pytest.approx(1000, abs=1e-9)
    anchored = ratings.bradley_terry(votes, anchor="B", anchor_rating=1200)
    assert anchored["B"] == pytest.approx(1200) and anchored["A"] == pytest.approx(1200 + 400 * math.log10(3))


def test_bradley_terry_refuses_a_missing_mle_unless_a_prior_is_asked_for():
    votes = frame([("A", "B", "left"), ("B", "C", "left"), ("A", "C", "left"), ("C", "B", "tie")])
    with pytest.raises(ValueError, match="never loses: A"):
        ratings.bradley_terry(votes)
    regularised = ratings.bradley_terry(votes, l2=1.0)
    assert regularised.idxmax() == "A" and np.isfinite(regularised).all()


def test_batch_newton_fit_equals_the_scipy_fit():
    votes, names = synthetic(n_votes=800, n=5, seed=3)
    o = ratings.outcomes(votes)
    theta = ratings.fit_bradley_terry_batch(np.stack([o.wins(), o.wins() * 2]))
    expected = ratings.bradley_terry(votes).reindex(o.names).to_numpy()
    for t in theta:
        assert np.abs(t * 400 / math.log(10) + 1000 - expected).max() < 1e-8
    # With an explicit prior both fits agree too, and the prior pulls ratings together.
    shrunk = ratings.bradley_terry(votes, l2=50.0).reindex(o.names).to_numpy()
    batch = ratings.fit_bradley_terry_batch(o.wins()[None], l2=50.0)[0] * 400 / math.log(10) + 1000
    assert np.abs(batch - shrunk).max() < 1e-8 and shrunk.std() < 0.9 * expected.std()


def test_batch_fit_marks_rounds_without_mle_as_nan():
    w = np.zeros((2, 3, 3))
    w[0] = [[0, 2, 1], [1, 0, 2], [1, 1, 0]]  # everyone wins and loses: fine
    w[1] = [[0, 2, 1], [0, 0, 2], [0, 1, 0]]  # competitor 0 never loses
    theta = ratings.fit_bradley_terry_batch(w)
    assert np.isfinite(theta[0]).all() and np.isnan(theta[1]).all()


def test_elo_k32_equals_a_hand_traced_sequence_in_time_order():
    votes = frame([("A", "B", "left"), ("B", "C", "tie"), ("A", "C", "right")])
    # Step 1: E_A = 0.5            -> A = 1000 + 32 * 0.5 = 1016,  B = 984
    # Step 2: E_B = 1/(1+10^(16/400)) = 0.4769904127 -> B = 984 + 32 * (0.5 - E_B) = 984.7363067935
    # Step 3: E_A = 1/(1+10^((999.2636932065 - 1016)/400)) = 0.5240668692 -> A -= 32 E_A, C += 32 E_A
    expected = {"A": 999.2298601853573, "B": 984.736306793522, "C": 1016.0338330211207}
    shuffled = votes.sample(frac=1.0, random_state=4)  # the order of rows must not matter, time does
    got = ratings.elo(shuffled)
    assert got.to_dict() == pytest.approx(expected, abs=1e-9)
    assert got.sum() == pytest.approx(3000)  # Elo is zero-sum


def test_online_elo_is_fastchat_k4():
    votes = frame([("A", "B", "left")])
    assert ratings.online_elo(votes).to_dict() == pytest.approx({"A": 1002.0, "B": 998.0})
    assert ratings.elo(votes, k=10, initial=1500).to_dict() == pytest.approx({"A": 1505.0, "B": 1495.0})


def test_tie_tiers_give_the_papers_table_2_ranks():
    table2 = pd.Series(
        {
            "repeat I2V": 1015,
            "anchor": 1173,
            "causal": 1087,
            "DF sigma 0.1": 1170,
            "DF sigma 0.5": 1174,
            "history guidance": 1152,
            "inverted": 1220,
            "vanilla+D": 1224,
        }
    )
    assert ratings.tie_tiers(table2).tolist() == [5, 2, 4, 2, 2, 3, 1, 1]


def test_tie_tiers_open_a_new_tier_more_than_16_below_the_tiers_top():
    r = pd.Series({"a": 1100, "b": 1090, "c": 1084, "d": 1083.9, "e": 1070, "f": 1049, "g": None})
    # a..c lie within 16 of a; d opens tier 2, which e (13.9 below d) joins; f opens tier 3.
    assert ratings.tie_tiers(r).iloc[:6].tolist() == [1, 1, 1, 2, 2, 3]
    assert np.isnan(ratings.tie_tiers(r)["g"])


def test_rank_by_intervals_counts_competitors_strictly_above():
    lower = pd.Series({"a": 1050, "b": 1040, "c": 990, "d": 900})
    upper = pd.Series({"a": 1080, "b": 1060, "c": 1045, "d": 980})
    # c's upper bound (1045) is below a's lower bound (1050) only; d's is below everyone's.
    assert ratings.rank_by_intervals(lower, upper).to_dict() == {"a": 1, "b": 1, "c": 2, "d": 4}


def test_bootstrap_interval_width_matches_binomial_theory():
    # Two competitors, 2000 votes at p = 0.7: sd(logit p_hat) = 1/sqrt(n p (1-p)); each rating moves by half.
    n, p = 2000, 0.7
    votes = frame([("A", "B", "left")] * int(n * p) + [("A", "B", "right")] * int(n * (1 - p)))
    boot = ratings.bootstrap(votes, rounds=2000, seed=0)
    sd_rating = 400 / math.log(10) / math.sqrt(n * p * (1 - p)) / 2
    width = boot.loc["A", "upper"] - boot.loc["A", "lower"]
    assert width == pytest.approx(2 * 1.96 * sd_rating, rel=0.1)
    assert boot.loc["A", "lower"] < boot.loc["A", "rating"] < boot.loc["A", "upper"]


def test_bootstrap_is_seeded_and_shrinks_with_more_votes():
    small, _ = synthetic(n_votes=500, n=4, seed=5)
    big, _ = synthetic(n_votes=4000, n=4, seed=5)
    a = ratings.bootstrap(small, rounds=300, seed=1)
    pd.testing.assert_frame_equal(a, ratings.bootstrap(small, rounds=300, seed=1))
    assert not a.equals(ratings.bootstrap(small, rounds=300, seed=2))
    b = ratings.bootstrap(big, rounds=300, seed=1)
    assert ((b["upper"] - b["lower"]).mean()) < 0.5 * (a["upper"] - a["lower"]).mean()


def test_bootstrap_elo_methods_bracket_their_point_ratings():
    votes, _ = synthetic(n_votes=400, n=4, seed=2)
    for method, k in (("elo", 32), ("online_elo", 4)):
        boot = ratings.bootstrap(votes, rounds=200, method=method)
        assert boot.attrs["method"] == method
        point = ratings.elo(votes, k=k)
        assert boot["rating"].to_dict() == pytest.approx(point.to_dict())
        assert (boot["lower"] < boot["upper"]).all()


def test_bootstrap_counts_rounds_without_mle():
    votes = frame([("A", "B", "left"), ("A", "B", "right"), ("B", "C", "left"), ("C", "B", "left")] * 2)
    with pytest.warns(UserWarning, match="no finite MLE"):
        boot = ratings.bootstrap(votes, rounds=200, seed=0)
    assert 0 < boot.attrs["dropped_rounds"] < 200


def test_skip_is_dropped_both_bad_is_a_parameter_and_gold_is_never_rated():
    votes = frame([("A", "B", "left"), ("A", "B", "both_bad"), ("A", "B", "skip"), ("A", "B", "right")])
    votes["kind"] = "regular"
    gold = frame([("A", "A (degraded)", "left")] * 5)
    gold["kind"] = "gold"
    both = pd.concat([votes, gold], ignore_index=True)
    as_tie = ratings.win_rate_matrix(both)
    assert list(as_tie.index) == ["A", "B"]
    assert as_tie.loc["A", "B"] == pytest.approx(1.5 / 3)
    dropped = ratings.rating_votes(both, both_bad="drop")
    assert list(dropped["choice"]) == ["left", "right"]
    with pytest.raises(ValueError, match="both_bad"):
        ratings.rating_votes(both, both_bad="loss")


def test_judge_and_human_votes_are_never_mixed_silently():
    humans = frame([("A", "B", "left"), ("B", "A", "right")], annotator="alice")
    judges = frame([("A", "B", "right")] * 3, annotator="judge:lpips")
    mixed = pd.concat([humans, judges], ignore_index=True)
    with pytest.raises(ValueError, match="mix human and judge"):
        ratings.elo(mixed)
    assert ratings.elo(mixed, annotators="humans")["A"] > 1000
    assert ratings.elo(mixed, annotators="judges")["A"] < 1000
    assert len(ratings.rating_votes(mixed, annotators="all")) == 5


def test_rating_table_columns_counts_and_order():
    votes, names = synthetic(n_votes=1500, n=4, seed=7)
    tidy = ratings.rating_table(votes, rounds=200)
    expected_columns = ["competitor", "rating", "lower", "upper", "rank", "elo", "tier", "votes", "win_rate"]
    assert list(tidy.columns) == expected_columns
    assert tidy["rating"].is_monotonic_decreasing
    table = tidy.set_index("competitor")
    assert table["elo"].to_dict() == pytest.approx(ratings.elo(votes).to_dict())
    assert table["votes"].sum() == 2 * len(votes)
    wr = ratings.win_rate_matrix(votes)
    counts = pd.concat([votes["left"], votes["right"]]).value_counts()
    for name in names:  # overall win rate = weighted mean of the row of the win-rate matrix
        games = pd.Series(
            {o: ((votes["left"] == name) & (votes["right"] == o)).sum() for o in names}
        ) + pd.Series({o: ((votes["left"] == o) & (votes["right"] == name)).sum() for o in names})
        expected = np.nansum(wr.loc[name] * games.reindex(wr.columns)) / counts[name]
        assert table.loc[name, "win_rate"] == pytest.approx(expected)
    markdown = ratings.format_markdown(tidy)
    assert markdown.splitlines()[0].startswith("| competitor | rating | lower")
    assert len(markdown.splitlines()) == 2 + len(names)


def labelled(votes_by_annotator):
    """Votes on pairs p0.. with per-annotator choices (None = not voted)."""
    rows = []
    for annotator, choices in votes_by_annotator.items():
        for i, c in enumerate(choices):
            if c is not None:
                rows.append(
                    {"pair_id": f"p{i}", "annotator": annotator, "choice": c, "left": "A", "right": "B"}
                )
    return pd.DataFrame(rows)


def test_cohen_kappa_equals_sklearn():
    from sklearn.metrics import cohen_kappa_score

    a = ["left", "left", "right", "tie", "left", "right", "both_bad", "left", "right", "right"]
    b = ["left", "right", "right", "tie", "left", "left", "both_bad", "left", "right", "tie"]
    votes = labelled({"x": a, "y": b})
    assert agreement.cohen_kappa(votes) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    matrix = agreement.pairwise_cohen_kappa(votes)
    assert matrix.loc["x", "y"] == pytest.approx(cohen_kappa_score(a, b))


def test_fleiss_kappa_on_the_classic_example():
    # Fleiss (1971) as in the Wikipedia example: 10 subjects, 14 raters, 5 categories -> kappa = 0.210.
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert agreement.fleiss_kappa_from_counts(counts) == pytest.approx(0.2099, abs=5e-4)


def test_krippendorff_alpha_on_krippendorffs_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, alpha = 0.743.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    counts = np.zeros((12, 5))
    for observer in data:
        for unit, value in enumerate(observer):
            if value is not None:
                counts[unit, value - 1] += 1
    assert agreement.krippendorff_alpha_from_counts(counts) == pytest.approx(0.743, abs=5e-4)


def test_agreement_from_votes_maps_repeats_and_is_one_for_perfect_agreement():
    votes = labelled(
        {"x": ["left", "right", "tie"], "y": ["left", "right", "tie"], "z": ["left", "right", "tie"]}
    )
    assert agreement.fleiss_kappa(votes) == pytest.approx(1.0)
    assert agreement.krippendorff_alpha(votes) == pytest.approx(1.0)
    # A swapped repeat answered consistently is the same label, and only the first vote on a unit counts.
    extra = pd.DataFrame([{"pair_id": "r0", "repeat_of": "p0", "annotator": "x", "choice": "right"}])
    votes["repeat_of"] = None
    assert agreement.fleiss_kappa(pd.concat([votes, extra], ignore_index=True)) == pytest.approx(1.0)
    disagree = labelled({"x": ["left", "right", "left", "right"], "y": ["right", "left", "right", "left"]})
    assert agreement.krippendorff_alpha(disagree) < 0


def test_gold_accuracy_and_swap_consistency_per_annotator():
    votes = pd.DataFrame(
        [
            # gold pairs: the clean clip is on gold_choice's side
            {"pair_id": "g1", "kind": "gold", "gold_choice": "left", "annotator": "a", "choice": "left"},
            {"pair_id": "g2", "kind": "gold", "gold_choice": "right", "annotator": "a", "choice": "tie"},
            {"pair_id": "g1", "kind": "gold", "gold_choice": "left", "annotator": "b", "choice": "left"},
            {"pair_id": "g2", "kind": "gold", "gold_choice": "right", "annotator": "b", "choice": "skip"},
            # p1 and its swapped repeat r1; p2 and r2
            {"pair_id": "p1", "kind": "regular", "annotator": "a", "choice": "left"},
            {"pair_id": "r1", "kind": "repeat", "repeat_of": "p1", "annotator": "a", "choice": "right"},
            {"pair_id": "p2", "kind": "regular", "annotator": "a", "choice": "tie"},
            {"pair_id": "r2", "kind": "repeat", "repeat_of": "p2", "annotator": "a", "choice": "left"},
            {"pair_id": "p1", "kind": "regular", "annotator": "b", "choice": "both_bad"},
            {"pair_id": "r1", "kind": "repeat", "repeat_of": "p1", "annotator": "b", "choice": "both_bad"},
        ]
    )
    gold = agreement.gold_accuracy(votes)
    assert gold.loc["a"].tolist() == [2, 1, 0.5]
    assert gold.loc["b"].tolist() == [1, 1, 1.0]  # the skipped gold pair is not counted
    swap = agreement.swap_consistency(votes)
    assert swap.loc["a"].tolist() == [2, 1, 0.5]
    assert swap.loc["b"].tolist() == [1, 1, 1.0]


def test_a_small_lopsided_study_is_rated_with_a_stated_prior():
    votes = frame([("A", "B", "left")] * 6 + [("A", "C", "left")] * 2 + [("B", "C", "tie")] * 2)
    with pytest.raises(ValueError, match="never loses: A"):
        ratings.bradley_terry(votes)
    table = ratings.rating_table(votes, rounds=200).set_index("competitor")
    assert "never loses: A" in table.attrs["prior"] and table.attrs["l2"] == ratings.FALLBACK_L2
    assert table.index[0] == "A" and np.isfinite(table[["rating", "lower", "upper"]].to_numpy()).all()
    expected = ratings.bradley_terry(votes, l2=ratings.FALLBACK_L2)
    assert table["rating"].to_dict() == pytest.approx(expected.to_dict())
    assert table["tier"].to_dict() == ratings.tie_tiers(ratings.elo(votes)).to_dict()
    full = ratings.rating_table(frame([("A", "B", "left"), ("B", "A", "left")] * 5), rounds=50)
    assert full.attrs["prior"] is None and full.attrs["l2"] == 0
