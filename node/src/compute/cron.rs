//! Cron: the messages the CU generates between scheduled messages for processes with
//! `Cron-Interval` tags (`servers/cu` `loadMessages.js`).
//!
//! Between two scheduled messages `left` and `right` the CU ticks one second at a time from
//! `left`'s timestamp (keeping its millisecond offset) up to, not including, `right`'s. A time
//! cron of N seconds fires on a tick whose second, counted from the process's own (slot 0)
//! second, is a non-zero multiple of N. A block cron fires when the ticks pass a block whose
//! height, counted from the process's height, is a non-zero multiple of N; its message carries
//! the block's timestamp. At one tick, block crons come first, then time crons from the most
//! to the least frequent. Everything here is a function of the schedule, so every node
//! generates the same ticks.

use serde_json::{Value, json};

use aolink_primitives::ao::{BLOCK_TIME_MS, block_start_ms};

use crate::store::NodeMeta;

/// What a cron fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronUnit {
    /// Every N seconds.
    Seconds,
    /// Every N blocks.
    Blocks,
}

/// One `Cron-Interval` of a process with the `Cron-Tag-*` tags that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    /// The tag's value as written (`5-minutes`): part of every result cursor.
    pub interval: String,
    /// Seconds or blocks.
    pub unit: CronUnit,
    /// N (at least 1).
    pub value: u64,
    /// The tags of its messages.
    pub tags: Vec<(String, String)>,
}

/// Why a process's cron tags are refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{tag}: {reason}")]
pub struct CronError {
    /// The tag at fault.
    pub tag: String,
    /// What is wrong.
    pub reason: String,
}

/// Milliseconds per unit, for the units `ms@2.1.3` (the reference CU's parser) understands.
fn unit_ms(unit: &str) -> Option<u128> {
    let unit = unit.to_ascii_lowercase();
    Some(match unit.as_str() {
        "" | "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 604_800_000,
        // ms counts a year as 365.25 days.
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600_000,
        _ => return None,
    })
}

/// A non-negative decimal (`5`, `1.5`, `.5`) as numerator / 10^scale, without floats.
fn decimal(text: &str) -> Option<(u128, u32)> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) || frac.len() > 18 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let scale = u32::try_from(frac.len()).ok()?;
    Some((digits.parse().ok()?, scale))
}

/// Parses one `Cron-Interval` value (`<N>-<unit>`).
pub fn parse_interval(value: &str) -> Result<(CronUnit, u64), String> {
    let (n, unit) = value
        .split_once('-')
        .map(|(n, u)| (n.trim(), u.trim()))
        .ok_or_else(|| format!("{value:?} is not <N>-<unit> (e.g. 5-minutes, 10-blocks)"))?;
    if unit.eq_ignore_ascii_case("block") || unit.eq_ignore_ascii_case("blocks") {
        let blocks: u64 = n
            .parse()
            .map_err(|_| format!("{value:?}: {n:?} is not a whole number of blocks"))?;
        if blocks == 0 {
            return Err(format!("{value:?}: a block cron needs at least 1 block"));
        }
        return Ok((CronUnit::Blocks, blocks));
    }
    let per = unit_ms(unit).ok_or_else(|| {
        format!(
            "{value:?}: unknown unit {unit:?} (seconds, minutes, hours, days, weeks, years or blocks; \
             months are not supported, as in the reference CU where they never fire)"
        )
    })?;
    let (num, scale) = decimal(n).ok_or_else(|| format!("{value:?}: {n:?} is not a number"))?;
    let seconds = num
        .checked_mul(per)
        .map(|total_ms| total_ms / 10u128.pow(scale) / 1000)
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| format!("{value:?} is too long"))?;
    if seconds == 0 {
        return Err(format!("{value:?}: a time cron must be at least 1 second"));
    }
    Ok((CronUnit::Seconds, seconds))
}

/// The crons a process's tags declare, in tag order. A `Cron-Tag-*` before any
/// `Cron-Interval` is an error, as in the reference CU.
pub fn parse_crons(tags: &[(String, String)]) -> Result<Vec<Cron>, CronError> {
    let mut crons: Vec<Cron> = Vec::new();
    for (name, value) in tags {
        if name == "Cron-Interval" {
            let (unit, n) = parse_interval(value).map_err(|reason| CronError {
                tag: "Cron-Interval".into(),
                reason,
            })?;
            crons.push(Cron {
                interval: value.clone(),
                unit,
                value: n,
                tags: Vec::new(),
            });
        } else if let Some(tag) = name.strip_prefix("Cron-Tag-") {
            let cron = crons.last_mut().ok_or_else(|| CronError {
                tag: name.clone(),
                reason: "a Cron-Tag needs a Cron-Interval before it".into(),
            })?;
            cron.tags.push((tag.to_string(), value.clone()));
        }
    }
    Ok(crons)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A process's crons in firing order, with what a tick needs to build its message.
#[derive(Clone, Debug)]
pub struct CronPlan {
    /// Block crons, in tag order.
    blocks: Vec<(usize, Cron)>,
    /// Time crons, most frequent first (stable: equal intervals keep tag order).
    times: Vec<(usize, Cron)>,
    /// The process id, its signer, and its slot-0 timestamp and height.
    process: String,
    owner: String,
    origin_ms: i64,
    origin_height: u64,
    /// The node's block clock (heights advance every `BLOCK_TIME_MS` from genesis).
    genesis_ms: i64,
    genesis_height: u64,
}

/// One generated cron message: where it sits and which cron fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The message's `Timestamp`.
    pub timestamp: i64,
    /// Its `Block-Height`.
    pub height: u64,
    /// Whether it is a block cron (`index` counts block crons) or a time cron.
    pub block: bool,
    /// The cron's position among the crons of its kind, in firing order.
    pub index: usize,
}

impl CronPlan {
    /// The plan for a process, or `None` when it declares no crons.
    pub fn new(
        crons: Vec<Cron>,
        process: String,
        owner: String,
        origin: (i64, u64),
        meta: &NodeMeta,
    ) -> Option<CronPlan> {
        if crons.is_empty() {
            return None;
        }
        let mut blocks = Vec::new();
        let mut times = Vec::new();
        for cron in crons {
            match cron.unit {
                CronUnit::Blocks => blocks.push((blocks.len(), cron)),
                CronUnit::Seconds => times.push((0, cron)),
            }
        }
        times.sort_by_key(|(_, c)| c.value);
        for (i, entry) in times.iter_mut().enumerate() {
            entry.0 = i;
        }
        Some(CronPlan {
            blocks,
            times,
            process,
            owner,
            origin_ms: origin.0,
            origin_height: origin.1,
            genesis_ms: meta.genesis_ms,
            genesis_height: meta.genesis_height,
        })
    }

    fn block_timestamp(&self, height: u64) -> i64 {
        block_start_ms(self.genesis_ms, self.genesis_height, height)
    }

    /// The first block whose timestamp is at or after `timestamp`.
    fn first_block_from(&self, timestamp: i64) -> u64 {
        let elapsed = timestamp.saturating_sub(self.genesis_ms);
        if elapsed <= 0 {
            return self.genesis_height;
        }
        let step = BLOCK_TIME_MS;
        let whole = u64::try_from((elapsed + step - 1) / step).unwrap_or(u64::MAX);
        self.genesis_height.saturating_add(whole)
    }

    /// The ticks from `next` (a tick on `left`'s grid, `left` + k·1000) up to, not including,
    /// `right`, where `left` is the timestamp and height of the last scheduled message and
    /// `height` the height the previous tick ended on. Returns the ticks and where the next
    /// call continues: the first grid point at or after `right`, and the height reached.
    pub fn ticks(
        &self,
        left: i64,
        next: i64,
        height: u64,
        right: i64,
        limit: usize,
    ) -> (Vec<Tick>, i64, u64) {
        let mut out = Vec::new();
        let mut height = height;
        // Blocks up to the end of the previous tick's second were passed by the previous call.
        let mut block = if next <= left {
            self.first_block_from(left.saturating_add(1))
        } else {
            self.first_block_from(left.saturating_add(1).max(next.div_euclid(1000) * 1000))
        };
        let origin_s = self.origin_ms.div_euclid(1000);
        let mut t = next;
        while out.len() < limit {
            if self.blocks.is_empty() {
                t = self.next_candidate(left, t);
            }
            if t >= right {
                break;
            }
            let sec = t.div_euclid(1000);
            // Blocks strictly inside (left, right) that this tick has reached.
            loop {
                let bt = self.block_timestamp(block);
                if bt <= left || bt >= right || bt.div_euclid(1000) > sec {
                    break;
                }
                height = block;
                for (i, cron) in &self.blocks {
                    let from_origin = block.saturating_sub(self.origin_height);
                    if block != self.origin_height && from_origin % cron.value == 0 {
                        out.push(Tick {
                            timestamp: bt,
                            height: block,
                            block: true,
                            index: *i,
                        });
                    }
                }
                block = block.saturating_add(1);
            }
            for (i, cron) in &self.times {
                let from_origin = sec.saturating_sub(origin_s);
                let n = i64::try_from(cron.value).unwrap_or(i64::MAX);
                if sec != origin_s && from_origin.rem_euclid(n) == 0 {
                    out.push(Tick {
                        timestamp: t,
                        height,
                        block: false,
                        index: *i,
                    });
                }
            }
            t = t.saturating_add(1000);
        }
        (out, t, height)
    }

    /// The first grid tick at or after `from` on which a time cron can fire, so that idle
    /// seconds are skipped rather than stepped through (a process idle for a year would
    /// otherwise cost 31 million steps). Only valid without block crons.
    pub fn next_candidate(&self, left: i64, from: i64) -> i64 {
        if !self.blocks.is_empty() {
            return from;
        }
        // Every firing second is a multiple of the intervals' gcd from the origin.
        let Some(step) = self.times.iter().map(|(_, c)| c.value).reduce(gcd) else {
            return from;
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let origin_s = self.origin_ms.div_euclid(1000);
        let sec = from.div_euclid(1000);
        let rem = (sec - origin_s).rem_euclid(step);
        if rem == 0 {
            return from;
        }
        let target_sec = sec.saturating_add(step - rem);
        // The grid point (left's millisecond offset) in that second.
        let offset = left.rem_euclid(1000);
        target_sec.saturating_mul(1000).saturating_add(offset)
    }

    /// The cron's `"<i>-<interval>"` label (the CU cursor's `cron`).
    pub fn label(&self, tick: &Tick) -> String {
        let list = if tick.block {
            &self.blocks
        } else {
            &self.times
        };
        list.iter()
            .find(|(i, _)| *i == tick.index)
            .map(|(i, c)| format!("{i}-{}", c.interval))
            .unwrap_or_default()
    }

    /// The `msg` of a tick: no Id, Nonce or signature; `From` = `Owner` = the process signer.
    pub fn message(&self, tick: &Tick) -> Value {
        let list = if tick.block {
            &self.blocks
        } else {
            &self.times
        };
        let tags: Vec<Value> = list
            .iter()
            .find(|(i, _)| *i == tick.index)
            .map(|(_, c)| {
                c.tags
                    .iter()
                    .map(|(n, v)| json!({"name": n, "value": v}))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "Owner": self.owner,
            "Target": self.process,
            "From": self.owner,
            "Tags": tags,
            "Timestamp": tick.timestamp,
            "Block-Height": tick.height,
            "Cron": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn meta() -> NodeMeta {
        NodeMeta {
            format: 1,
            address: "node".into(),
            genesis_ms: 1_000_000_000_000,
            genesis_height: 1_500_000,
        }
    }

    #[test]
    fn intervals_parse_like_the_reference_cu() {
        assert_eq!(parse_interval("5-minutes"), Ok((CronUnit::Seconds, 300)));
        assert_eq!(parse_interval("1-second"), Ok((CronUnit::Seconds, 1)));
        assert_eq!(parse_interval("1.5-hours"), Ok((CronUnit::Seconds, 5400)));
        assert_eq!(
            parse_interval("1-year"),
            Ok((CronUnit::Seconds, 31_557_600))
        );
        assert_eq!(parse_interval("2-h"), Ok((CronUnit::Seconds, 7200)));
        assert_eq!(parse_interval("10-blocks"), Ok((CronUnit::Blocks, 10)));
        assert_eq!(parse_interval("1-Block"), Ok((CronUnit::Blocks, 1)));
        for bad in [
            "1-months",
            "500-ms",
            "0-blocks",
            "x-minutes",
            "5",
            "-5-minutes",
            "5-fortnights",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad} should be refused");
        }
        let err = parse_interval("1-months").unwrap_err();
        assert!(err.contains("months"), "{err}");
    }

    #[test]
    fn cron_tags_attach_to_the_interval_before_them() {
        let crons = parse_crons(&tags(&[
            ("Name", "x"),
            ("Cron-Interval", "5-minutes"),
            ("Cron-Tag-Action", "Cron"),
            ("Cron-Interval", "10-blocks"),
            ("Cron-Tag-Action", "Tick"),
            ("Cron-Tag-Kind", "block"),
        ]))
        .unwrap();
        assert_eq!(crons.len(), 2);
        assert_eq!(crons[0].tags, tags(&[("Action", "Cron")]));
        assert_eq!(
            crons[1].tags,
            tags(&[("Action", "Tick"), ("Kind", "block")])
        );
        let err = parse_crons(&tags(&[("Cron-Tag-Action", "Cron")])).unwrap_err();
        assert_eq!(err.tag, "Cron-Tag-Action");
    }

    #[test]
    fn time_crons_fire_on_multiples_from_the_origin_second() {
        let crons = parse_crons(&tags(&[
            ("Cron-Interval", "10-seconds"),
            ("Cron-Tag-Action", "Ten"),
            ("Cron-Interval", "4-seconds"),
            ("Cron-Tag-Action", "Four"),
        ]))
        .unwrap();
        let origin = 1_700_000_000_250;
        let plan = CronPlan::new(crons, "P".into(), "O".into(), (origin, 1), &meta()).unwrap();
        // The process message is the left boundary; a message 21 s later the right one.
        let (ticks, next, _) = plan.ticks(origin, origin, 1, origin + 21_000, usize::MAX);
        let fired: Vec<(i64, String)> = ticks
            .iter()
            .map(|t| ((t.timestamp - origin) / 1000, plan.label(t)))
            .collect();
        assert_eq!(
            fired,
            vec![
                (4, "0-4-seconds".into()),
                (8, "0-4-seconds".into()),
                (10, "1-10-seconds".into()),
                (12, "0-4-seconds".into()),
                (16, "0-4-seconds".into()),
                (20, "0-4-seconds".into()),
                (20, "1-10-seconds".into()),
            ]
        );
        assert!(
            next >= origin + 21_000,
            "resumes at or past the right boundary"
        );
        let msg = plan.message(&ticks[2]);
        assert_eq!(msg["Tags"], json!([{"name": "Action", "value": "Ten"}]));
        assert_eq!(msg["Cron"], json!(true));
        assert_eq!(msg["From"], json!("O"));
        assert_eq!(msg["Timestamp"], json!(origin + 10_000));
    }

    #[test]
    fn ticks_resume_where_they_stopped_and_keep_the_left_offset() {
        let crons = parse_crons(&tags(&[("Cron-Interval", "3-seconds")])).unwrap();
        let origin = 1_700_000_000_000;
        let plan = CronPlan::new(crons, "P".into(), "O".into(), (origin, 1), &meta()).unwrap();
        let whole: Vec<i64> = plan
            .ticks(origin, origin, 1, origin + 30_000, usize::MAX)
            .0
            .iter()
            .map(|t| t.timestamp)
            .collect();
        let (a, next, h) = plan.ticks(origin, origin, 1, origin + 13_500, usize::MAX);
        let (b, _, _) = plan.ticks(origin, next, h, origin + 30_000, usize::MAX);
        let parts: Vec<i64> = a.iter().chain(&b).map(|t| t.timestamp).collect();
        assert_eq!(whole, parts);
        // A message at +7.7 s starts a new grid at its own millisecond offset.
        let left = origin + 7_700;
        let (c, _, _) = plan.ticks(left, left, 1, origin + 13_000, usize::MAX);
        assert_eq!(
            c.iter().map(|t| t.timestamp).collect::<Vec<_>>(),
            vec![origin + 9_700, origin + 12_700]
        );
        assert_eq!(plan.next_candidate(left, left), origin + 9_700);
    }

    #[test]
    fn block_crons_fire_on_the_node_block_clock() {
        let m = meta();
        let crons = parse_crons(&tags(&[
            ("Cron-Interval", "2-blocks"),
            ("Cron-Tag-Action", "Blocky"),
            ("Cron-Interval", "1-minute"),
        ]))
        .unwrap();
        // The process is spawned 10 s into block 1_500_010.
        let origin = m.genesis_ms + 10 * 120_000 + 10_000;
        let plan = CronPlan::new(crons, "P".into(), "O".into(), (origin, 1_500_010), &m).unwrap();
        let (ticks, _, height) =
            plan.ticks(origin, origin, 1_500_010, origin + 600_000, usize::MAX);
        let blocks: Vec<(i64, u64)> = ticks
            .iter()
            .filter(|t| t.block)
            .map(|t| (t.timestamp, t.height))
            .collect();
        assert_eq!(
            blocks,
            vec![
                (m.genesis_ms + 12 * 120_000, 1_500_012),
                (m.genesis_ms + 14 * 120_000, 1_500_014)
            ]
        );
        assert_eq!(height, 1_500_015);
        // The minute cron at the block's second comes after the block cron.
        let at = ticks
            .iter()
            .position(|t| t.block && t.height == 1_500_012)
            .unwrap();
        assert!(
            ticks[..at]
                .iter()
                .all(|t| t.timestamp < ticks[at].timestamp)
        );
        let minute = ticks.iter().filter(|t| !t.block).count();
        assert_eq!(minute, 9, "minutes 1..=9 after the origin second");
    }
}
