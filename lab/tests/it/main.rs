//! Integration tests: the real `lab` binary against real `proxy-test-origin` processes
//! (and, for `compare`, the real `proxy`), checking the files a load tester would open.

mod bad_input;
mod compare;
mod helpers;
mod run;
