//! What the engine concludes: findings (one per fired rule) and diagnostics (what it could not read).
//!
//! A finding carries everything a card needs to say *why*: the bleed, its date and GA, which
//! records were used, how the pregnancy was dated, and the modifiers (hCG trend, re-dating, label,
//! unknown Rh, unavailable inputs). Rendering text is `gravida-knowledge`'s job.

use std::fmt;

use time::{Date, OffsetDateTime};

use crate::facts::{Field, Input, Precision, RecordKind};
use crate::ga::GestationalAge;

/// A row of the decision table (knowledge.md §3.3, §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    R1,
    R2,
    /// R2 escalated (knowledge.md §3.5 item 12): a bleeding card with signs of haemodynamic
    /// instability, or heavy bleeding, becomes this critical card.
    R2E,
    /// R2's pregnancy of unknown location resolved (knowledge.md §3.6 item 7): a negative
    /// pregnancy test after the bleed, after every positive evidence and after a scan with no
    /// intrauterine pregnancy. An info note in place of silence (G1): the follow-up R2 and R5
    /// asked for ("follow hCG to undetectable") has reached its end.
    R2R,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    /// Bleeding at ≥ 20w0d: obstetric triage (§3.5 item 13). R9 folds into it.
    R14,
    /// Bleeding before 16w0d in a documented IUP after a previous miscarriage: progesterone
    /// (§3.5 item 15).
    R15,
    /// Misoprostol or mifepristone ordered before early pregnancy loss is established on record:
    /// the abortifacient guard (§3.6 item 14). Also the note for a draft medication order that
    /// cannot be identified at all, which any guard would have to see (issue 31, "Bad input").
    R16,
    /// Not a row of the decision table: the data-problem note, sent when records were set aside
    /// (an impossible date, or refused as not this patient's) and no rule fired, so that the
    /// answer is never an unexplained silence (ARCHITECTURE.md: "never silence").
    D1,
}

impl RuleId {
    /// Every rule, in order.
    pub const ALL: [RuleId; 19] = [
        RuleId::R1,
        RuleId::R2,
        RuleId::R2E,
        RuleId::R2R,
        RuleId::R3,
        RuleId::R4,
        RuleId::R5,
        RuleId::R6,
        RuleId::R7,
        RuleId::R8,
        RuleId::R9,
        RuleId::R10,
        RuleId::R11,
        RuleId::R12,
        RuleId::R13,
        RuleId::R14,
        RuleId::R15,
        RuleId::R16,
        RuleId::D1,
    ];

    /// The rules that produce a card of their own (R1 gives none; R5, R5N and R11 are text
    /// modifiers).
    pub const CARD_RULES: [RuleId; 16] = [
        RuleId::R2,
        RuleId::R2E,
        RuleId::R2R,
        RuleId::R3,
        RuleId::R4,
        RuleId::R6,
        RuleId::R7,
        RuleId::R8,
        RuleId::R9,
        RuleId::R10,
        RuleId::R12,
        RuleId::R13,
        RuleId::R14,
        RuleId::R15,
        RuleId::R16,
        RuleId::D1,
    ];

    /// The rules whose cards may be critical: R2E (haemodynamic instability or heavy
    /// bleeding), R6 (methotrexate before a viable IUP is ruled out), R9 and R14 (made critical
    /// by a documented vasa previa) and R16 (an abortifacient ordered for a loss not yet
    /// established). Running one of them silently hides a critical card, so a profile must say
    /// why (`acknowledge_silent_critical`).
    pub const MAY_BE_CRITICAL: [RuleId; 5] = [
        RuleId::R2E,
        RuleId::R6,
        RuleId::R9,
        RuleId::R14,
        RuleId::R16,
    ];

    /// The rule named `id` (`"R2"`, `"r13"`: case does not matter), if there is one.
    pub fn parse(id: &str) -> Option<RuleId> {
        RuleId::ALL
            .into_iter()
            .find(|rule| rule.as_str().eq_ignore_ascii_case(id))
    }

    /// `"R2"`, `"R13"`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::R1 => "R1",
            RuleId::R2 => "R2",
            RuleId::R2E => "R2E",
            RuleId::R2R => "R2R",
            RuleId::R3 => "R3",
            RuleId::R4 => "R4",
            RuleId::R5 => "R5",
            RuleId::R6 => "R6",
            RuleId::R7 => "R7",
            RuleId::R8 => "R8",
            RuleId::R9 => "R9",
            RuleId::R10 => "R10",
            RuleId::R11 => "R11",
            RuleId::R12 => "R12",
            RuleId::R13 => "R13",
            RuleId::R14 => "R14",
            RuleId::R15 => "R15",
            RuleId::R16 => "R16",
            RuleId::D1 => "D1",
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Card urgency, ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

impl Indicator {
    /// `"info"`, `"warning"`, `"critical"`: the card's indicator as CDS Hooks writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::Info => "info",
            Indicator::Warning => "warning",
            Indicator::Critical => "critical",
        }
    }
}

/// The bleed's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// Charted as (possibly hedged) implantation bleeding.
    Implantation,
    Unspecified,
}

/// Where the pregnancy is known to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IupStatus {
    /// An intrauterine pregnancy is documented (§8), on this date.
    Documented(Option<Date>),
    /// TVUS performed without a documented IUP: pregnancy of unknown location.
    Pul,
    /// No ultrasound in this pregnancy.
    NoUltrasound,
}

/// What the record was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Bleed,
    PregnancyEvidence,
    Dating,
    Lmp,
    IntrauterinePregnancy,
    Ultrasound,
    Hcg,
    RhType,
    Previa,
    /// Vasa previa documented (§3.6 item 20): never a placenta previa.
    VasaPrevia,
    PlacentalLocation,
    SubchorionicHematoma,
    DraftOrder,
    /// A prior ectopic, an IUD in situ, or an ART conception (§3.5 item 9).
    RiskFactor,
    /// A blood pressure or heart rate (R2E).
    VitalSign,
    /// A previous miscarriage (R15).
    PreviousMiscarriage,
    /// A diagnosis of this pregnancy that would otherwise silence every card (G5): named when
    /// R6 is evaluated across it (§3.5 item 14).
    Diagnosis,
}

/// One record used as evidence for a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub role: Role,
    /// `Condition`, `Observation`, `DiagnosticReport`, or the draft order's resource type.
    pub resource_type: String,
    pub id: String,
    pub date: Option<Date>,
}

impl Evidence {
    pub fn record(role: Role, kind: RecordKind, id: &str, date: Option<Date>) -> Self {
        Evidence {
            role,
            resource_type: kind_name(kind).to_string(),
            id: id.to_string(),
            date,
        }
    }
}

/// The FHIR resource type of a record kind.
pub fn kind_name(kind: RecordKind) -> &'static str {
    kind.resource_type()
}

/// Which source dated the pregnancy (§3.4 item 3, in precedence order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatingSource {
    /// ART dating (53692-0, 53693-8).
    Art,
    /// The charted EDD (11778-8).
    ChartedEdd,
    /// The first ultrasound GA.
    Ultrasound,
    /// The LMP.
    Lmp,
    /// A GA Observation with no stated method.
    GaObservation,
}

/// A dating record's date written with month or year precision ("2026-09", "2026"): the interval
/// it names, so that the pregnancy began between [`Dating::start`] and `latest_start`
/// (knowledge.md §3.6 item 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialDate {
    /// The date as written: the first day of the month or year it names.
    pub written: Date,
    /// [`Precision::Month`] or [`Precision::Year`].
    pub precision: Precision,
    /// The latest start the interval allows (its earliest is [`Dating::start`]).
    pub latest_start: Date,
}

/// How the pregnancy was dated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dating {
    pub source: DatingSource,
    /// GA 0 of the pregnancy (LMP or EDD − 280 days).
    pub start: Date,
    /// The record that dated it.
    pub record_id: String,
    /// The record's date.
    pub record_date: Option<Date>,
    /// When ultrasound replaced LMP dating (CO 700), by how many days the LMP differed.
    pub redated_from_lmp_days: Option<i64>,
    /// The dating record's date was partial: `start` is the earliest start it allows, and the
    /// GA a range (§3.6 item 4).
    pub partial: Option<PartialDate>,
}

/// The R5 hCG trend branch (§3.4 item 5), with the change normalised to 48 h (e.g. `-0.35`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HcgTrend {
    /// A fall of at least the expected decline.
    Fall { change: f64 },
    /// A fall slower than expected.
    SlowFall { change: f64 },
    /// A rise below the Barnhart 2016 minimum for the first value.
    SlowRise { change: f64, minimum: f64 },
    /// A rise at or above the Barnhart 2016 minimum. Said only beside a NICE reading that
    /// differs (R5N); alone it needs no text.
    AdequateRise { change: f64, minimum: f64 },
}

/// A risk factor of ectopic and heterotopic pregnancy (knowledge.md §3.5 item 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RiskFactor {
    /// An ectopic pregnancy dated before this pregnancy (or undated).
    PriorEctopic,
    /// An intrauterine device in situ.
    Iud,
    /// Conception by assisted reproduction (IVF).
    ArtConception,
}

/// A vital sign that shows haemodynamic instability (R2E).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VitalSign {
    SystolicBp,
    HeartRate,
    /// Heart rate ÷ systolic pressure, taken together.
    ShockIndex,
}

/// The NICE NG126 reading of an hCG pair 24–72 h apart in a PUL (R5N, §3.5 item 16), with the
/// change normalised to 48 h.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NiceReading {
    /// A rise above 63 %: a developing IUP is likely; ectopic not excluded.
    Rise { change: f64 },
    /// A fall above 50 %: the pregnancy is unlikely to continue.
    Fall { change: f64 },
    /// Anything between: review within 24 h.
    Between { change: f64 },
}

/// Something a card must add to its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Modifier {
    /// R5.
    HcgTrend(HcgTrend),
    /// R11: GA by ultrasound; LMP differed by this many days.
    Redated { days: i64 },
    /// The dating record's date was partial (§3.6 item 4): the GA is a range, the card follows
    /// the more cautious of the rules at its two ends, and a dating ultrasound is advised.
    GaRange {
        source: DatingSource,
        /// The date as written, and its precision ("LMP recorded as September 2026").
        written: Date,
        precision: Precision,
        /// The GA on the bleed's day from the latest start, and from the earliest.
        low: GestationalAge,
        high: GestationalAge,
    },
    /// "Implantation" at ≥ 6w0d.
    LabelImplausible,
    /// "Implantation" at 5w0d–5w6d.
    LabelDoubtful,
    /// Rh type unknown: advise ABO/Rh type.
    RhUnknown,
    /// An input could not be retrieved.
    Unavailable(Input),
    /// The bleed had no readable date: the GA shown is today's.
    BleedDateUnknown,
    /// The bleed date is the record's recorded/issued date, not its onset.
    BleedDateFromRecorded,
    /// Placenta previa is documented (R9).
    PreviaDocumented,
    /// Vasa previa is documented: the placenta card is critical (§3.6 item 20).
    VasaPrevia,
    /// A current anticoagulant, as the chart names it (§3.6 item 21).
    Anticoagulant { drug: String },
    /// Anti-D alloimmunisation on record, by diagnosis or by laboratory: no R7/R8, and the card
    /// says RhIG is not indicated (§3.6 item 12).
    Alloimmunised,
    /// The Rh result names an RhD variant (weak D, partial D): read as RhD negative for
    /// prophylaxis until RHD genotyping (§3.6 item 11).
    RhVariant,
    /// Subchorionic hematoma documented (noted on R3/R4).
    SubchorionicHematoma,
    /// A relevant record could not be fully read.
    UnreadableRecord { id: String, field: Field },
    /// A record that would have been a bleed, a dating record or a deciding result carries a
    /// modifier extension the service does not understand: it was not interpreted (§3.6 item 13).
    NotInterpreted { kind: RecordKind, id: String },
    /// A relevant record has a date no record of this pregnancy can have; that date (or the
    /// record) was not used. `date` is the offending date, when there is one to show.
    ImpossibleDate {
        kind: RecordKind,
        id: String,
        date: Option<Date>,
        problem: DateProblem,
    },
    /// Resources the EHR sent were refused (another patient's, or a bad id): how many.
    RefusedRecords { count: usize },
    /// A risk factor of ectopic and heterotopic pregnancy (R2, R6; §3.5 item 9).
    RiskFactor(RiskFactor),
    /// R6 across G5: an ectopic (or other) diagnosis of this pregnancy beside a documented IUP
    /// or an ART conception (§3.5 item 14).
    DiagnosedInThisPregnancy,
    /// R6: the methotrexate order names a non-obstetric indication (rheumatoid arthritis,
    /// psoriasis, a malignancy) or a weekly low-dose schedule: teratogen wording, never the
    /// ectopic wording (knowledge.md §3.6 W10).
    OtherIndication,
    /// R2E: a vital sign within the window showing instability, its value and when it was taken.
    Vital {
        sign: VitalSign,
        value: f64,
        at: OffsetDateTime,
        id: String,
    },
    /// R2E: the bleeding record is worded heavy.
    HeavyBleeding,
    /// R4: the bleed is described as moderate or heavy, not light (§3.6 W7).
    BleedNotLight,
    /// R2E before 14w0d (or at an unknown GA): ruptured ectopic pregnancy is possible.
    RupturedEctopicPossible,
    /// R2E: the bleeding card this one escalates; its advice follows the emergency steps.
    EscalatedFrom(RuleId),
    /// A vital sign that could not be read (value, unit or date): not used, named.
    UnreadableVitalSign { id: String },
    /// R14: no placental location is coded: no digital exam until previa is excluded.
    PlacentaNotLocated,
    /// R14: RhD negative: Kleihauer–Betke test.
    KleihauerBetke,
    /// R5N: the NICE NG126 reading of the hCG pair.
    HcgNice(NiceReading),
    /// R5N: Barnhart 2016 and NICE NG126 read the pair differently; both are stated.
    HcgReadingsDiffer,
    /// R15: the site enabled the vaginal progesterone order suggestion.
    ProgesteroneOrder,
    /// The Rh type is on record (issue 17 item 3: said instead of asked for).
    RhOnRecord { negative: bool },
    /// An Rh result of this pregnancy whose value could not be read: "Rh not readable", never
    /// "not on record" (knowledge.md §3.5 item 6).
    RhUnreadable { id: String, date: Option<Date> },
    /// Rh typing done (a Procedure, or a result without a value yet): the result is still needed
    /// (§3.5 item 20).
    RhResultPending { id: String, date: Option<Date> },
    /// Anti-D charted as given within R7's protective window (§3.5 item 20).
    AntiDGiven { id: String, date: Option<Date> },
    /// The latest hCG of this pregnancy is a bound, shown as written ("<5 m[IU]/mL"), never used
    /// as a number (§3.5 item 5).
    HcgBound {
        id: String,
        date: Option<Date>,
        written: String,
    },
    /// The latest hCG measured in this pregnancy, as the lab wrote it ("1300 m[IU]/mL"): R2 after
    /// a scan with no intrauterine pregnancy quotes it and the repeat it calls for (§3.6 W6).
    HcgLast {
        id: String,
        date: Option<Date>,
        written: String,
    },
    /// An hCG test charted as a Procedure with no result on record since (§3.5 item 20).
    HcgResultPending { id: String, date: Option<Date> },
    /// R16: the abortifacient the draft order names ("Misoprostol"), and whether the order's
    /// reason or the current encounter names early pregnancy loss (then the card is critical).
    Abortifacient { drug: String, for_loss: bool },
    /// R16, the SRU criterion missing: no ultrasound of this pregnancy is on record.
    SruNoUltrasound,
    /// R16, the SRU criterion missing: cardiac activity is documented (the latest record of it
    /// says present): a live pregnancy.
    SruLive { id: String, date: Option<Date> },
    /// R16, the SRU criterion missing: an ultrasound is on record, but no crown–rump length of
    /// at least the SRU threshold with cardiac activity recorded absent.
    SruNotMet { id: String, date: Option<Date> },
    /// The picture of gestational trophoblastic disease with no documented IUP (§3.6 item 15):
    /// an hCG above the threshold (`hcg`, as written), or the record whose ultrasound appearance
    /// or hedged diagnosis raises it.
    GtdPossible {
        id: String,
        date: Option<Date>,
        hcg: Option<String>,
    },
    /// Anti-D immune globulin is among the draft orders of this call: R7 is not shown, and the
    /// other cards say so in their long form (§3.6 item 16).
    AntiDOrdered { resource_type: String, id: String },
    /// An ectopic, molar or loss diagnosis of this pregnancy recorded hedged ("R/O ectopic", a
    /// provisional status): not G5; every bleeding card says it is suspected, with the record's
    /// date (knowledge.md §3.6 item 2).
    Suspected {
        what: Suspected,
        id: String,
        date: Option<Date>,
    },
    /// R2R: the negative pregnancy test that resolved the pregnancy of unknown location, and
    /// its value as the lab wrote it when it is quantitative ("<5 m[IU]/mL"; §3.6 item 7).
    PulResolved {
        id: String,
        date: Option<Date>,
        written: Option<String>,
    },
    /// A test the bleeding card would advise is on record today: its button does not order it
    /// again (§3.6 item 16).
    DoneToday { what: Done, id: String },
    /// R16: a draft medication order with neither a code nor a name: it cannot be checked
    /// against the methotrexate and abortifacient guards.
    UnidentifiedOrder,
}

/// What a hedged diagnosis suspects (knowledge.md §3.6 item 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suspected {
    Ectopic,
    /// Molar pregnancy (gestational trophoblastic disease).
    Molar,
    /// Early pregnancy loss, missed abortion or miscarriage.
    Loss,
}

/// A test the cards advise that can be on record as done today (§3.6 item 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Done {
    /// An ultrasound of this pregnancy: a finding, a report or a Procedure.
    Ultrasound,
    /// A quantitative hCG result, or an hCG test charted as a Procedure.
    Hcg,
}

/// Why a record's date could not be used (tracker issue 14 item 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateProblem {
    /// Dated later than today plus `Thresholds::future_tolerance_days`.
    InFuture,
    /// A dating record whose date puts the start of the pregnancy (GA 0) after today.
    StartInFuture,
    /// An active bleeding record dated more than `Thresholds::before_pregnancy_margin_days`
    /// before this pregnancy's start: G4 keeps it out, and the card says so.
    BeforePregnancy,
    /// A gestational-age value that no pregnancy can have (negative, or above
    /// `Thresholds::max_gestational_age_days`).
    ImpossibleGa,
}

/// One fired rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub indicator: Indicator,
    /// GA at the bleed (or today, when the bleed date is unknown).
    pub ga: Option<GestationalAge>,
    pub bleed_date: Option<Date>,
    /// The words of the bleeding record that name the bleed, for the card to quote: its first
    /// text that mentions bleeding (a note's title says less than its words), else its first
    /// text. `None` when the finding has no bleed, or the record no text.
    pub bleed_text: Option<String>,
    pub label: Label,
    pub iup: IupStatus,
    pub dating: Option<Dating>,
    pub evidence: Vec<Evidence>,
    pub modifiers: Vec<Modifier>,
    /// R6: the draft order to delete (`("MedicationRequest", id)`).
    pub draft_order: Option<(String, String)>,
}

impl Finding {
    pub fn has(&self, wanted: &Modifier) -> bool {
        self.modifiers.iter().any(|m| m == wanted)
    }
}

/// Something the engine could not read or chose to ignore, for logs and (when it mattered) cards.
/// Carries ids and field names only, never patient data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub resource_type: String,
    pub id: String,
    pub field: Option<Field>,
    pub message: String,
}

/// The engine's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Highest indicator first; at most one per rule.
    pub findings: Vec<Finding>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Evaluation {
    /// The highest indicator, if any finding fired.
    pub fn max_indicator(&self) -> Option<Indicator> {
        self.findings.iter().map(|f| f.indicator).max()
    }

    pub fn rules(&self) -> Vec<RuleId> {
        self.findings.iter().map(|f| f.rule).collect()
    }
}
