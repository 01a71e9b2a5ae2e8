//! Topological order in FATE's layering, and cycle detection with the cycle's path.
