//! Route tables: pure data and matching.
