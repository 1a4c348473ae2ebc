//! The ARM client's OpenTelemetry metrics (feature `otel`), recorded where the calls are made:
//! each attempt's latency with its answer, and the 429s and retried failures. Without the
//! feature, or before a meter provider is installed, they cost a branch.

/// One attempt answered (`status`) or failed in transport (`None`) after `latency`; `kind`
/// is the `curfew.arm.kind` attribute.
pub(crate) fn attempt(kind: &'static str, status: Option<u16>, latency: std::time::Duration) {
    #[cfg(feature = "otel")]
    {
        use opentelemetry::KeyValue;
        let m = otel::get();
        let kind = KeyValue::new("curfew.arm.kind", kind);
        let answer = match status {
            Some(code) => KeyValue::new("http.response.status_code", i64::from(code)),
            None => KeyValue::new("error.type", "transport"),
        };
        if status == Some(429) {
            m.throttled.add(1, std::slice::from_ref(&kind));
        }
        m.latency.record(latency.as_secs_f64(), &[kind, answer]);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (kind, status, latency);
}

/// An attempt that failed and is retried (5xx, reset, timeout, 401 refresh).
pub(crate) fn retried(kind: &'static str) {
    #[cfg(feature = "otel")]
    otel::get()
        .retried
        .add(1, &[opentelemetry::KeyValue::new("curfew.arm.kind", kind)]);
    #[cfg(not(feature = "otel"))]
    let _ = kind;
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::metrics::{Counter, Histogram};
    use std::sync::OnceLock;

    pub(super) struct Instruments {
        pub(super) latency: Histogram<f64>,
        pub(super) throttled: Counter<u64>,
        pub(super) retried: Counter<u64>,
    }

    /// Built on first use, from the global meter provider: the handler installs it at startup,
    /// before the first ARM call.
    pub(super) fn get() -> &'static Instruments {
        static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
        INSTRUMENTS.get_or_init(|| {
            let meter = opentelemetry::global::meter("curfew-arm");
            Instruments {
                latency: meter
                    .f64_histogram("curfew.arm.request.duration")
                    .with_unit("s")
                    .with_description("ARM request latency, per attempt")
                    .with_boundaries(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ])
                    .build(),
                throttled: meter
                    .u64_counter("curfew.arm.throttled")
                    .with_description("ARM answers 429 Too Many Requests")
                    .build(),
                retried: meter
                    .u64_counter("curfew.arm.retried_failures")
                    .with_description("ARM attempts that failed and were retried")
                    .build(),
            }
        })
    }
}
