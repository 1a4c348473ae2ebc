//! `curfew demo` (being written).
