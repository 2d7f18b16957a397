"""Identity resolution: normalise contact points, find or create customers, merge and unmerge."""
