"""Redis write-behind for artifacts, and the other state several sidecars share through Redis
(the catalog refresh lock, cost snapshots). See docs/operations.md, "Scale-out"."""
