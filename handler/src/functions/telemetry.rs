//! Telemetry per invocation (conventions §7): `tracing` to stdout as plain lines (the host
//! collects the handler's stdout), one span per invocation with the OpenTelemetry `faas.*`
//! attributes, continuing the host's W3C `traceparent`.

use tracing::Span;
use tracing_subscriber::filter::LevelFilter;

use super::config::FunctionsConfig;

/// The `faas.trigger` values of the OpenTelemetry semantic conventions that Curfew uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Timer trigger.
    Timer,
    /// Service Bus queue trigger (a message system: `pubsub`).
    PubSub,
    /// HTTP trigger.
    Http,
}

impl Trigger {
    /// The attribute value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::PubSub => "pubsub",
            Self::Http => "http",
        }
    }
}

/// A parsed W3C `traceparent` header (`00-<trace-id>-<parent-id>-<flags>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub(crate) trace_id: String,
    /// 16 lowercase hex digits, not all zero.
    pub(crate) parent_id: String,
    /// The sampled flag.
    pub(crate) sampled: bool,
}

impl TraceParent {
    /// Parses the header; `None` for anything malformed (then a new trace starts).
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        if !hex(version, 2) || version.eq_ignore_ascii_case("ff") || !hex(flags, 2) {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        if !hex(trace, 32) || zero(trace) || !hex(parent, 16) || zero(parent) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: trace.to_ascii_lowercase(),
            parent_id: parent.to_ascii_lowercase(),
            sampled: flags & 1 == 1,
        })
    }
}

/// What is known about an invocation when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct InvocationInfo<'a> {
    /// Function name (`faas.name`).
    pub(crate) function: &'a str,
    /// Trigger kind (`faas.trigger`).
    pub(crate) trigger: Trigger,
    /// `X-Azure-Functions-InvocationId` (`faas.invocation_id`).
    pub(crate) invocation_id: Option<&'a str>,
    /// First invocation of this process (`faas.coldstart`).
    pub(crate) coldstart: bool,
    /// The host's trace context.
    pub(crate) parent: Option<&'a TraceParent>,
}

/// Opens the span of one invocation. Attribute names follow the OpenTelemetry FaaS
/// conventions so an OTLP exporter can pass them through unchanged.
pub(crate) fn invocation_span(info: &InvocationInfo<'_>) -> Span {
    let span = tracing::info_span!(
        "invocation",
        otel.name = info.function,
        otel.kind = if info.trigger == Trigger::Http {
            "server"
        } else {
            "consumer"
        },
        faas.name = info.function,
        faas.trigger = info.trigger.as_str(),
        faas.invocation_id = info.invocation_id.unwrap_or(""),
        faas.coldstart = info.coldstart,
        trace_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    if let Some(p) = info.parent {
        span.record("trace_id", p.trace_id.as_str());
        span.record("parent_span_id", p.parent_id.as_str());
    }
    set_parent(&span, info.parent);
    span
}

/// The installed telemetry pipeline; flushed before each response and at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    otel: Option<otel::Pipeline>,
}

impl Telemetry {
    /// Whether spans and metrics are exported over OTLP.
    pub(crate) fn exporting(&self) -> bool {
        #[cfg(feature = "otel")]
        return self.otel.is_some();
        #[cfg(not(feature = "otel"))]
        false
    }

    /// Pushes buffered spans and metrics out; a frozen serverless process would lose them.
    /// Stdout lines are written synchronously, so without an exporter there is nothing to do.
    pub(crate) fn flush(&self) {
        #[cfg(feature = "otel")]
        if let Some(p) = &self.otel {
            p.flush();
        }
    }

    /// Flushes and stops exporters (graceful shutdown).
    pub(crate) fn shutdown(&self) {
        self.flush();
        #[cfg(feature = "otel")]
        if let Some(p) = &self.otel {
            p.shutdown();
        }
    }
}

/// Continues the host's trace: the invocation span's OpenTelemetry parent is the host's span.
pub(crate) fn set_parent(span: &Span, parent: Option<&TraceParent>) {
    #[cfg(feature = "otel")]
    if let Some(p) = parent {
        otel::set_parent(span, p);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (span, parent);
}

/// Installs the global subscriber: stdout lines, no colours, level from `CURFEW_LOG`; plus
/// the OTLP layer when built with `otel` and `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub(crate) fn init(config: &FunctionsConfig) -> Telemetry {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let level: LevelFilter = config.log;
    #[cfg(feature = "otel")]
    {
        use tracing_subscriber::Layer;
        let (pipeline, layer) = match &config.otlp_endpoint {
            None => (None, None),
            Some(_) => match otel::Pipeline::start(&config.service_name) {
                Ok((p, tracer)) => (
                    Some(p),
                    // Spans are exported whatever `CURFEW_LOG` says of the stdout lines: a
                    // deployment logging warnings only still gets its trace.
                    // Without the thread name and busy/idle times on every span (one thread
                    // serves; the span's own times say how long it took): a busy tick's
                    // export is smaller. The code location stays.
                    Some(
                        tracing_opentelemetry::layer()
                            .with_tracer(tracer)
                            .with_threads(false)
                            .with_tracked_inactivity(false)
                            .with_filter(LevelFilter::INFO),
                    ),
                ),
                Err(e) => {
                    eprintln!("curfew: OTLP export off: {e}");
                    (None, None)
                }
            },
        };
        let _ = tracing_subscriber::registry()
            .with(fmt.with_filter(level))
            .with(layer)
            .try_init();
        Telemetry { otel: pipeline }
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = tracing_subscriber::registry()
            .with(level)
            .with(fmt)
            .try_init();
        if let Some(endpoint) = &config.otlp_endpoint {
            tracing::warn!(
                %endpoint,
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but this build has no OTLP exporter (build with --features otel)"
            );
        }
        Telemetry::default()
    }
}

/// The OTLP pipeline (feature `otel`): HTTP/protobuf to `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/…`
/// through a blocking reqwest client on the SDK's own threads; spans batched, metrics read
/// periodically, both force-flushed before every response.
#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    };
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TraceParent;

    /// The providers to flush and shut down.
    #[derive(Debug)]
    pub(super) struct Pipeline {
        traces: SdkTracerProvider,
        metrics: SdkMeterProvider,
    }

    impl Pipeline {
        /// Builds the exporters and installs the global meter provider. The endpoints, headers
        /// and timeouts are the SDK's: `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` and
        /// `/v1/metrics` unless the per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`
        /// say otherwise, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`.
        pub(super) fn start(
            service: &str,
        ) -> Result<(Self, opentelemetry_sdk::trace::SdkTracer), Box<dyn std::error::Error>>
        {
            // reqwest (no TLS provider of its own, as in the ARM client) panics on building a
            // client before one is installed; the ARM client installs the same one later.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let resource = Resource::builder()
                .with_service_name(service.to_owned())
                .build();
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?;
            let mut traces = SdkTracerProvider::builder()
                .with_batch_exporter(spans)
                .with_resource(resource.clone());
            if std::env::var_os("OTEL_TRACES_SAMPLER").is_none() {
                traces = traces.with_sampler(host_sampler());
            }
            let traces = traces.build();
            let metrics_exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?;
            let metrics = SdkMeterProvider::builder()
                .with_periodic_exporter(metrics_exporter)
                .with_resource(resource)
                .build();
            opentelemetry::global::set_meter_provider(metrics.clone());
            let tracer = traces.tracer("curfew");
            Ok((Self { traces, metrics }, tracer))
        }

        /// Flushes spans and metrics side by side: each provider's flush is bounded by the
        /// SDK (5 s), so an unreachable collector delays an answer by at most that, once.
        pub(super) fn flush(&self) {
            std::thread::scope(|s| {
                let metrics = s.spawn(|| self.metrics.force_flush());
                if let Err(e) = self.traces.force_flush() {
                    eprintln!("curfew: OTLP span flush failed: {e}");
                }
                match metrics.join() {
                    Ok(Err(e)) => eprintln!("curfew: OTLP metric flush failed: {e}"),
                    Ok(Ok(())) => {}
                    Err(_) => eprintln!("curfew: OTLP metric flush panicked"),
                }
            });
        }

        pub(super) fn shutdown(&self) {
            let _ = self.traces.shutdown();
            let _ = self.metrics.shutdown();
        }
    }

    /// The default sampler: every span is recorded and exported. The Functions host sends an
    /// *unsampled* `traceparent` (flags `00`), which the SDK's default `ParentBased(AlwaysOn)`
    /// obeys by dropping every span; `AlwaysOn` still takes the trace id and parent span id
    /// from that context, so Curfew's spans join the host's trace. `OTEL_TRACES_SAMPLER`, when
    /// set, wins (the SDK reads it).
    pub(super) fn host_sampler() -> opentelemetry_sdk::trace::Sampler {
        opentelemetry_sdk::trace::Sampler::AlwaysOn
    }

    /// Makes the host's span the parent of `span`.
    pub(super) fn set_parent(span: &tracing::Span, p: &TraceParent) {
        let (Ok(trace), Ok(parent)) = (
            TraceId::from_hex(&p.trace_id),
            SpanId::from_hex(&p.parent_id),
        ) else {
            return;
        };
        let flags = if p.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let cx = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            trace,
            parent,
            flags,
            true,
            TraceState::default(),
        ));
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sampler against the host's unsampled context, through the same `tracing` layer
    /// `init` installs (the OTLP receiver test, cli/tests/otlp_e2e.rs, checks it end to end).
    #[cfg(feature = "otel")]
    mod sampling {
        use super::super::{invocation_span, otel, InvocationInfo, TraceParent, Trigger};
        use opentelemetry::trace::TracerProvider as _;
        use opentelemetry_sdk::error::OTelSdkResult;
        use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        #[derive(Debug, Clone, Default)]
        struct Collect(Arc<Mutex<Vec<SpanData>>>);

        impl SpanExporter for Collect {
            fn export(
                &self,
                batch: Vec<SpanData>,
            ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
                self.0.lock().unwrap().extend(batch);
                std::future::ready(Ok(()))
            }
        }

        const HOST: &str = "00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-00";

        /// One invocation with a `tick` child under the host's context; the spans exported.
        fn export_with(sampler: Sampler) -> Vec<SpanData> {
            let spans = Collect::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(spans.clone())
                .with_sampler(sampler)
                .build();
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
            let parent = TraceParent::parse(HOST).unwrap();
            tracing::subscriber::with_default(subscriber, || {
                let span = invocation_span(&InvocationInfo {
                    function: "Tick",
                    trigger: Trigger::Timer,
                    invocation_id: Some("i-1"),
                    coldstart: true,
                    parent: Some(&parent),
                });
                span.in_scope(|| drop(tracing::info_span!("tick").entered()));
            });
            provider.force_flush().unwrap();
            let out = spans.0.lock().unwrap().clone();
            out
        }

        #[test]
        fn the_sdk_default_drops_every_span_under_the_hosts_unsampled_context() {
            let parent_based = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
            assert!(export_with(parent_based).is_empty());
        }

        #[test]
        fn curfew_records_them_in_the_hosts_trace_under_the_hosts_span() {
            let spans = export_with(otel::host_sampler());
            assert_eq!(spans.len(), 2, "{spans:#?}");
            for s in &spans {
                assert_eq!(
                    s.span_context.trace_id().to_string(),
                    "bb2bd5eef54cb15a1506d0326d2489e7"
                );
                assert!(s.span_context.is_sampled());
            }
            let inv = spans.iter().find(|s| s.name == "Tick").expect("invocation");
            let tick = spans.iter().find(|s| s.name == "tick").expect("tick");
            assert_eq!(inv.parent_span_id.to_string(), "d3f54c84c7034d76");
            assert_eq!(tick.parent_span_id, inv.span_context.span_id());
        }
    }

    #[test]
    fn traceparent_from_the_captured_host_headers() {
        let p =
            TraceParent::parse("00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-00").unwrap();
        assert_eq!(p.trace_id, "bb2bd5eef54cb15a1506d0326d2489e7");
        assert_eq!(p.parent_id, "d3f54c84c7034d76");
        assert!(!p.sampled);
        assert!(
            TraceParent::parse("00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-01")
                .unwrap()
                .sampled
        );
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-d3f54c84c7034d76-01",
            "00-bb2bd5eef54cb15a1506d0326d2489e7-0000000000000000-01",
            "ff-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-01",
            "00-bb2bd5eef54cb15a1506d0326d2489e-d3f54c84c7034d76-01",
            "00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-01-extra",
            "00-xyz-d3f54c84c7034d76-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A future version may append fields.
        assert!(
            TraceParent::parse("01-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-01-x")
                .is_some()
        );
    }
}
