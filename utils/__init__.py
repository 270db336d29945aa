"""Small helpers shared by every package: feature flags."""
