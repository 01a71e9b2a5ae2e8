//! Time as the site sees it: injected, so tests control it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Datelike, Local, TimeZone, Timelike};
use ferroflow_core::id::LocalTime;

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the epoch (FATE's timestamps).
    fn now_ms(&self) -> i64;

    /// Local wall-clock time, for job ids.
    fn local_time(&self) -> LocalTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn local_time(&self) -> LocalTime {
        to_local(Local::now())
    }
}

fn to_local(t: chrono::DateTime<Local>) -> LocalTime {
    LocalTime {
        year: t.year(),
        month: t.month(),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
        micros: t.timestamp_subsec_micros().min(999_999),
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn local_time(&self) -> LocalTime {
        let ms = self.now_ms();
        let t = Local
            .timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(Local::now);
        to_local(t)
    }
}
