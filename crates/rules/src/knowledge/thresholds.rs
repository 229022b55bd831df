//! The thresholds the engine uses (knowledge.md §3.4, §3.5; profiles/default/thresholds.toml):
//! plain numbers with the shipped values as defaults, and the two read through a table or a band
//! (ACOG CO 700's re-dating threshold, Barnhart 2016's minimal rise).

/// Which reading of an hCG pair leads on the card when Barnhart 2016 and NICE NG126 differ
/// (knowledge.md §3.5 item 16: the profile chooses; Barnhart by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HcgLead {
    #[default]
    Barnhart,
    Nice,
}

/// Every threshold the engine uses, in days unless the name says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Implantation bleeding plausible up to and including this GA (4w6d = 34 d).
    pub implantation_plausible_max_days: i64,
    /// Implantation bleeding doubtful up to and including this GA (5w6d = 41 d); implausible after.
    pub implantation_doubtful_max_days: i64,
    /// Last GA of the early-pregnancy window of R2–R4 (13w6d = 97 d).
    pub early_window_max_days: i64,
    /// From this GA, Rh-negative bleeding gets R7 rather than R8 (12w0d = 84 d).
    pub anti_d_from_days: i64,
    /// From this GA, R9 (no digital exam before previa is excluded) applies (14w0d = 98 d).
    pub previa_check_from_days: i64,
    /// From this GA, R9 is a warning rather than info (20w0d = 140 d). With the default
    /// `obstetric_triage_from_days` (also 20w0d) R9 folds into R14 there, so R9 is info only.
    pub previa_warning_from_days: i64,
    /// From this GA a bleed is at term, where a bloody show in labour is not an antepartum
    /// haemorrhage and R14 is left out (37w0d = 259 d; knowledge.md §3.6 item 17).
    pub term_from_days: i64,
    /// SRU 2013: a crown–rump length of at least this many millimetres with no cardiac activity
    /// establishes early pregnancy loss (7 mm; knowledge.md §1.9, §3.6 item 14, R16).
    pub sru_crl_mm: f64,
    /// An hCG above this (IU/L) with no documented IUP raises the possibility of gestational
    /// trophoblastic disease (100,000; knowledge.md §3.6 item 15).
    pub gtd_hcg_above: f64,
    /// A bleed is recent when dated within this many days (14).
    pub recency_days: i64,
    /// CO 700 re-dating table: `(max GA by US in days, inclusive; re-date when LMP differs by more
    /// than this many days)`. The last row applies to every later GA.
    pub redating: Vec<(i64, i64)>,
    /// Barnhart 2016 bands: first value below this → `hcg_min_rise_low`.
    pub hcg_band_low_below: f64,
    /// First value up to and including this → `hcg_min_rise_mid`; above → `hcg_min_rise_high`.
    pub hcg_band_mid_max: f64,
    pub hcg_min_rise_low: f64,
    pub hcg_min_rise_mid: f64,
    pub hcg_min_rise_high: f64,
    /// Expected minimal 48-h decline of a resolving pregnancy (0.21).
    pub hcg_min_decline: f64,
    /// hCG pairs must be this far apart, in hours (24–96).
    pub hcg_pair_min_hours: f64,
    pub hcg_pair_max_hours: f64,
    /// RhIG protective window, in weeks (12); stated in the R7 card.
    pub rhig_window_weeks: i64,
    /// An EDD passed by more than this is not evidence of a current pregnancy (14 d).
    pub edd_passed_tolerance_days: i64,
    /// GA / dating Observations older than this are not about the current pregnancy (42 weeks = 294 d).
    pub ga_lookback_days: i64,
    /// R12 (unlabelled bleeding ≤ 4w6d) is policy-dependent and off by default.
    pub r12_enabled: bool,
    /// A record dated more than this many days after today is dated in the future (1: a day's
    /// slack for time zones and clocks). Its date is never used to compute a GA.
    pub future_tolerance_days: i64,
    /// An active bleeding record dated more than this many days before the pregnancy's start is
    /// "dated before this pregnancy" (21: a recorded LMP is accurate to ±2–3 weeks).
    pub before_pregnancy_margin_days: i64,
    /// The GA on the day of conception (14 d: GA = conception age + 14 days, the convention of
    /// ovulation on cycle day 14). A conception date dates the pregnancy's start this many days
    /// before it; an embryo transfer, this many days plus the embryo's age (§3.6 item 9).
    pub ga_at_conception_days: i64,
    /// The highest gestational age a record can state (45w0d = 315 d); above it, or below 0, the
    /// value is impossible.
    pub max_gestational_age_days: i64,
    /// R2E: vital signs count when taken within this many hours before now (24).
    pub vital_signs_window_hours: i64,
    /// R2E: a systolic blood pressure below this (mmHg) is instability (90).
    pub systolic_bp_below: f64,
    /// R2E: a heart rate above this (/min) is instability (120).
    pub heart_rate_above: f64,
    /// R2E: a shock index (heart rate ÷ systolic pressure) of at least this is instability (0.9).
    pub shock_index_from: f64,
    /// R2E: a heart rate and a systolic pressure this many minutes apart or less make one shock
    /// index (15).
    pub shock_index_pairing_minutes: i64,
    /// R14: from this GA, bleeding gets obstetric triage, and R9 folds into it (20w0d = 140 d).
    pub obstetric_triage_from_days: i64,
    /// R15: bleeding before this GA (16w0d = 112 d) in a documented IUP after a miscarriage.
    pub progesterone_before_days: i64,
    /// R15: the card suggests a vaginal progesterone order only when the site enables it.
    pub r15_order_enabled: bool,
    /// R5N: NICE NG126 reads a 48-h rise above this (0.63) as a likely developing IUP.
    pub nice_rise_above: f64,
    /// R5N: NICE NG126 reads a 48-h fall above this (0.50) as a pregnancy unlikely to continue.
    pub nice_fall_above: f64,
    /// R5N: NICE reads hCG pairs up to this many hours apart (72; from `hcg_pair_min_hours`).
    pub nice_pair_max_hours: f64,
    /// R5N: which reading leads when both apply.
    pub hcg_trend_lead: HcgLead,
    /// Pregnancy evidence counts only when dated within this many days before the bleed (300;
    /// knowledge.md §3.5 item 4: a 2022 "pregnant" status is no evidence for a 2025 bleed).
    pub pregnancy_evidence_max_age_days: i64,
    /// A record naming delivery or the postpartum state, dated within this many days, ends the
    /// pregnancy (G2; 84 = 12 weeks, knowledge.md §3.5 item 11).
    pub postpartum_window_days: i64,
    /// A quantitative hCG at or above this (mIU/mL = IU/L) is pregnancy evidence (25, §3.6 item 7).
    pub hcg_pregnant_from: f64,
    /// A quantitative hCG below this (mIU/mL = IU/L) is evidence against (5, §3.6 item 7).
    pub hcg_not_pregnant_below: f64,
}

impl Default for Thresholds {
    /// The values of `profiles/default/thresholds.toml` (knowledge.md §1.3, §1.7, §1.8, §1.12, §3.4).
    fn default() -> Self {
        Thresholds {
            implantation_plausible_max_days: 34,
            implantation_doubtful_max_days: 41,
            early_window_max_days: 97,
            anti_d_from_days: 84,
            previa_check_from_days: 98,
            previa_warning_from_days: 140,
            term_from_days: 259,
            sru_crl_mm: 7.0,
            gtd_hcg_above: 100_000.0,
            recency_days: 14,
            redating: vec![(62, 5), (111, 7), (153, 10), (195, 14), (i64::MAX, 21)],
            hcg_band_low_below: 1500.0,
            hcg_band_mid_max: 3000.0,
            hcg_min_rise_low: 0.49,
            hcg_min_rise_mid: 0.40,
            hcg_min_rise_high: 0.33,
            hcg_min_decline: 0.21,
            hcg_pair_min_hours: 24.0,
            hcg_pair_max_hours: 96.0,
            rhig_window_weeks: 12,
            edd_passed_tolerance_days: 14,
            ga_lookback_days: 294,
            r12_enabled: false,
            future_tolerance_days: 1,
            before_pregnancy_margin_days: 21,
            ga_at_conception_days: 14,
            max_gestational_age_days: 315,
            vital_signs_window_hours: 24,
            systolic_bp_below: 90.0,
            heart_rate_above: 120.0,
            shock_index_from: 0.9,
            shock_index_pairing_minutes: 15,
            obstetric_triage_from_days: 140,
            progesterone_before_days: 112,
            r15_order_enabled: false,
            nice_rise_above: 0.63,
            nice_fall_above: 0.50,
            nice_pair_max_hours: 72.0,
            hcg_trend_lead: HcgLead::Barnhart,
            pregnancy_evidence_max_age_days: 300,
            postpartum_window_days: 84,
            hcg_pregnant_from: 25.0,
            hcg_not_pregnant_below: 5.0,
        }
    }
}

impl Thresholds {
    /// The CO 700 re-dating threshold (days) for a GA by ultrasound of `ga_days`.
    pub fn redating_threshold(&self, ga_days: i64) -> i64 {
        self.redating
            .iter()
            .find(|(max, _)| ga_days <= *max)
            .or(self.redating.last())
            .map(|(_, threshold)| *threshold)
            .unwrap_or(i64::MAX)
    }

    /// Barnhart 2016 minimal 48-h rise for a first value of `first`.
    pub fn min_rise_for(&self, first: f64) -> f64 {
        if first < self.hcg_band_low_below {
            self.hcg_min_rise_low
        } else if first <= self.hcg_band_mid_max {
            self.hcg_min_rise_mid
        } else {
            self.hcg_min_rise_high
        }
    }
}
