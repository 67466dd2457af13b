//! Regression tests for the attacker's review (issue 16): each fails on the code before the fix.

mod access;
mod files;
mod front;
mod held;
