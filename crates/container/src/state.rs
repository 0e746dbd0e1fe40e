//! Container records.
