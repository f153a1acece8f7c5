"""The recommender keeps no tables of its own: it reads the catalogue of styles, motions and models that
generation owns (generation.models)."""
