"""Human A/B preference study: design (pairs from a results folder), a crash-safe vote store, a blind
voting web page and notebook widget. Ratings from the votes live in :mod:`metrics.ratings`."""
