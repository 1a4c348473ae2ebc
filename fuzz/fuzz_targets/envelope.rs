//! A Functions host envelope POSTed to one of the routes (the first byte picks it), through the
//! real router: every answer is an envelope, never a panic (the panic layer's 500 counts as
//! one) or a dropped connection.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&route, body)) = data.split_first() else {
        return;
    };
    let _ = curfew_handler::fuzzing::invoke(usize::from(route), body);
});
