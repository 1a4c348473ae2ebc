//! Fault injection: throttling, server errors, slow answers and dropped connections, each with a
//! rate and a seed so a run is repeatable.
//!
//! Spec syntax (the `--faults` flag): comma-separated `key=value`, e.g.
//! `429=0.1,503=0.02,drop=0.01@7,slow=0.05,slow-ms=2000,latency-ms=50,retry-after=1,seed=42`.
//! A rate may carry its own seed after `@`; otherwise it is derived from `seed`.

use std::time::Duration;

use curfew_plumbing::SplitMix64;

/// A fault the simulator injected into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Fault {
    /// Answered 429 with `Retry-After`.
    Throttle,
    /// Answered 429 because the subscription's ARM token bucket was empty.
    Bucket,
    /// Answered 500.
    ServerError,
    /// Answered 503.
    Unavailable,
    /// Closed the connection without an answer.
    Drop,
    /// Answered after an extra delay.
    Slow,
}

/// Fault rates and delays, parsed from a spec string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// Rate of 429s, with its seed.
    pub throttle: Option<(f64, u64)>,
    /// Rate of 500s, with its seed.
    pub server_error: Option<(f64, u64)>,
    /// Rate of 503s, with its seed.
    pub unavailable: Option<(f64, u64)>,
    /// Rate of dropped connections, with its seed.
    pub drop: Option<(f64, u64)>,
    /// Rate of slow answers, with its seed.
    pub slow: Option<(f64, u64)>,
    /// Extra delay of a slow answer.
    pub slow_delay: Duration,
    /// Delay added to every ARM request (network + ARM latency).
    pub latency: Duration,
    /// `Retry-After` seconds sent with an injected 429.
    pub retry_after_secs: u64,
}

/// Default extra delay of a slow answer.
pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(5);
/// Default `Retry-After` of an injected 429, in seconds.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

impl FaultSpec {
    /// Parses a `--faults` spec (see the module doc). An empty string means no faults.
    pub fn parse(spec: &str) -> Result<FaultSpec, String> {
        let mut out = FaultSpec {
            slow_delay: DEFAULT_SLOW_DELAY,
            retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            ..FaultSpec::default()
        };
        let mut seed = 1u64;
        let mut rates: Vec<(&str, f64, Option<u64>)> = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault `{part}`: expected key=value"))?;
            let num = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("fault `{part}`: `{s}` is not a whole number"))
            };
            match k {
                "seed" => seed = num(v)?,
                "slow-ms" => out.slow_delay = Duration::from_millis(num(v)?),
                "latency-ms" => out.latency = Duration::from_millis(num(v)?),
                "retry-after" => out.retry_after_secs = num(v)?,
                "429" | "500" | "503" | "drop" | "slow" => {
                    let (rate, own_seed) = match v.split_once('@') {
                        Some((r, s)) => (r, Some(num(s)?)),
                        None => (v, None),
                    };
                    let rate: f64 = rate
                        .parse()
                        .ok()
                        .filter(|r: &f64| (0.0..=1.0).contains(r))
                        .ok_or_else(|| format!("fault `{part}`: rate must be a number in 0..=1"))?;
                    rates.push((k, rate, own_seed));
                }
                _ => return Err(format!("fault `{part}`: unknown key `{k}` (429, 500, 503, drop, slow, slow-ms, latency-ms, retry-after, seed)")),
            }
        }
        for (i, (k, rate, own)) in rates.into_iter().enumerate() {
            let s = own.unwrap_or(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(i as u64 + 1),
            );
            let slot = match k {
                "429" => &mut out.throttle,
                "500" => &mut out.server_error,
                "503" => &mut out.unavailable,
                "drop" => &mut out.drop,
                _ => &mut out.slow,
            };
            *slot = Some((rate, s));
        }
        Ok(out)
    }
}

/// The per-fault generators of one simulator.
#[derive(Debug)]
pub(crate) struct FaultDice {
    slots: Vec<(Fault, f64, SplitMix64)>,
}

impl FaultDice {
    pub(crate) fn new(spec: &FaultSpec) -> FaultDice {
        let order = [
            (Fault::Drop, spec.drop),
            (Fault::Throttle, spec.throttle),
            (Fault::Unavailable, spec.unavailable),
            (Fault::ServerError, spec.server_error),
            (Fault::Slow, spec.slow),
        ];
        FaultDice {
            slots: order
                .into_iter()
                .filter_map(|(f, r)| r.map(|(rate, seed)| (f, rate, SplitMix64::new(seed))))
                .collect(),
        }
    }

    /// Rolls every fault's die once (so each stream advances once per request); returns the
    /// answer-changing fault that hit first, and whether the answer is also slowed.
    pub(crate) fn roll(&mut self) -> (Option<Fault>, bool) {
        let mut hit = None;
        let mut slow = false;
        for (fault, rate, rng) in &mut self.slots {
            if rng.unit() < *rate {
                if *fault == Fault::Slow {
                    slow = true;
                } else if hit.is_none() {
                    hit = Some(*fault);
                }
            }
        }
        (hit, slow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_rates_seeds_and_delays() {
        let s = FaultSpec::parse(
            "429=0.1,drop=0.01@7,slow=0.5,slow-ms=200,latency-ms=50,retry-after=3,seed=9",
        )
        .unwrap();
        assert_eq!(s.throttle.unwrap().0, 0.1);
        assert_eq!(s.drop, Some((0.01, 7)));
        assert_eq!(s.slow_delay, Duration::from_millis(200));
        assert_eq!(s.latency, Duration::from_millis(50));
        assert_eq!(s.retry_after_secs, 3);
        assert!(FaultSpec::parse("429=2").is_err());
        assert!(FaultSpec::parse("teapot=0.1").is_err());
        assert_eq!(FaultSpec::parse("").unwrap().throttle, None);
    }

    #[test]
    fn rates_are_honoured_and_repeatable() {
        let spec = FaultSpec::parse("429=0.1,503=0.05,seed=42").unwrap();
        let run = || {
            let mut dice = FaultDice::new(&spec);
            (0..20_000).map(|_| dice.roll().0).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same faults");
        let throttled = a.iter().filter(|f| **f == Some(Fault::Throttle)).count() as f64 / 20_000.0;
        assert!((0.09..0.11).contains(&throttled), "429 rate {throttled}");
    }
}
