//! End-to-end tests of the four services together live in tests/.
