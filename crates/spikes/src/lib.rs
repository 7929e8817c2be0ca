//! Spike and crisis detection over per-minute mention volumes (work in progress).
