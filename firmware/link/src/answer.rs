//! Answers as the host takes them: the one place that says which [`Response`] answers a
//! request, checks what no device may answer (a class its own scores contradict, a class that
//! does not exist), and puts a device's refusal in words. The host CLI and the end-to-end
//! scenario both go through it, so neither trusts a device more than the other.

use shinso_proto::{
    CheckpointStatus, DeviceInfo, ErrorCode, LearnStats, ModelInfo, Response, CLASSES,
};

/// Why an answer is not the one a request wants.
#[derive(Debug)]
pub enum AnswerError {
    /// The device refused the request ([`Response::Error`]).
    Refused {
        /// Its reason.
        code: ErrorCode,
        /// Its number (expected length, offset…).
        detail: u32,
    },
    /// Another message than the request's answer.
    Unexpected(Box<Response>),
    /// The right message, but its fields cannot be true.
    Invalid(String),
}

impl From<Response> for AnswerError {
    /// A response that is not the wanted one: a refusal, or out of protocol.
    fn from(r: Response) -> Self {
        match r {
            Response::Error { code, detail } => AnswerError::Refused { code, detail },
            r => AnswerError::Unexpected(Box::new(r)),
        }
    }
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerError::Refused { code, detail } => {
                write!(f, "device refused: {}", refusal(*code, *detail))
            }
            AnswerError::Unexpected(r) => write!(f, "unexpected answer {r:?}"),
            AnswerError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AnswerError {}

/// What one kind of request is answered with, taken out of its [`Response`] and checked.
pub trait Answer: Sized {
    /// `r` as this answer, or why it is not one.
    fn take(r: Response) -> Result<Self, AnswerError>;
}

/// The answers that are one [`Response`] variant's payload as it is (`()` for `Ok`).
macro_rules! plain_answer {
    ($($t:ty => $pattern:pat => $value:expr),* $(,)?) => {$(
        impl Answer for $t {
            fn take(r: Response) -> Result<Self, AnswerError> {
                match r {
                    $pattern => Ok($value),
                    r => Err(r.into()),
                }
            }
        }
    )*};
}

plain_answer! {
    () => Response::Ok => (),
    DeviceInfo => Response::Info(i) => i,
    LearnStats => Response::Stats(s) => s,
    CheckpointStatus => Response::Checkpoints(c) => c,
}

/// Model `id` of those `info` lists, or why there is none.
pub fn listed(info: &DeviceInfo, id: u8) -> Result<&ModelInfo, String> {
    let models = &info.models;
    models.iter().find(|m| m.id == id).ok_or_else(|| {
        let ids: Vec<String> = models.iter().map(|m| m.id.to_string()).collect();
        let ids = if ids.is_empty() {
            "none".into()
        } else {
            ids.join(", ")
        };
        format!("the device has no model {id} (it lists {ids})")
    })
}

/// The model that holds the parameters of network `name` (its `signature` and `floats`): model
/// `id`, or without one the model of that signature. It must be of that network: the device
/// would refuse a push of another's, and a pull must know how much to read.
pub fn target<'a>(
    info: &'a DeviceInfo,
    id: Option<u8>,
    (name, signature, floats): (&str, u64, usize),
) -> Result<&'a ModelInfo, String> {
    let m = match id {
        Some(id) => listed(info, id)?,
        None => (info.models.iter().find(|m| m.signature == signature)).ok_or_else(|| {
            format!("no model on the device is a {name} (signature {signature:#018x})")
        })?,
    };
    if m.signature != signature || m.params as usize != floats {
        return Err(format!(
            "device model {} is {} ({} parameters, signature {:#018x}); a {name} has {floats} (signature {signature:#018x})",
            m.id, m.name, m.params, m.signature
        ));
    }
    Ok(m)
}

/// An inference ([`Response::Inferred`]) whose scores are finite and whose class is theirs by
/// the core's rule, the one the device uses.
#[derive(Clone, Debug)]
pub struct Inferred {
    /// The class the scores pick.
    pub class: u8,
    /// Softmax probabilities.
    pub scores: [f32; CLASSES],
    /// Cost of the inference in the device's counter units.
    pub count: u64,
}

impl Answer for Inferred {
    fn take(r: Response) -> Result<Self, AnswerError> {
        let Response::Inferred {
            class,
            scores,
            count,
        } = r
        else {
            return Err(r.into());
        };
        let invalid = |why: String| Err(AnswerError::Invalid(why));
        match shinso::class_of(&scores) {
            Err(_) => invalid(format!(
                "the device's scores are NaN or infinite: {scores:?}"
            )),
            Ok(want) if want != class as usize => invalid(format!(
                "the device answered class {class}, but its scores say {want}"
            )),
            Ok(_) => Ok(Inferred {
                class,
                scores,
                count,
            }),
        }
    }
}

/// A learning or fine-tuning step ([`Response::Learned`]) whose prediction is a class.
#[derive(Clone, Copy, Debug)]
pub struct Learned {
    /// Loss of the sample before the update.
    pub loss: f32,
    /// The prediction before the update (prequential evaluation).
    pub predicted_before: u8,
    /// Samples learned since the last reset.
    pub samples_seen: u32,
    /// Cost of the step in the device's counter units.
    pub count: u64,
}

impl Answer for Learned {
    fn take(r: Response) -> Result<Self, AnswerError> {
        match r {
            Response::Learned {
                predicted_before, ..
            } if predicted_before as usize >= CLASSES => Err(AnswerError::Invalid(format!(
                "the device predicted class {predicted_before}, which does not exist"
            ))),
            Response::Learned {
                loss,
                predicted_before,
                samples_seen,
                count,
            } => Ok(Learned {
                loss,
                predicted_before,
                samples_seen,
                count,
            }),
            r => Err(r.into()),
        }
    }
}

/// Why the device refused, in words (`detail` as [`ErrorCode`] documents it for each code).
pub fn refusal(code: ErrorCode, detail: u32) -> String {
    let why = match code {
        ErrorCode::BadFrame | ErrorCode::BadCrc => "the frame was damaged on the way",
        ErrorCode::Unknown => "the device does not know this request (firmware too old?)",
        ErrorCode::Oversized => "the frame was too long",
        ErrorCode::NonFinite => "a value is NaN or infinite",
        ErrorCode::BadSignature => "the weights are for another network",
        ErrorCode::BadLength => return format!("wrong length (device expects {detail})"),
        ErrorCode::BadOffset => return format!("out of order (device is at byte {detail})"),
        ErrorCode::BadBlobCrc => "the weights' CRC does not match; the old weights stay",
        ErrorCode::NoSuchModel => "no such model on the device",
        ErrorCode::NotTrainable => "that model does not learn",
        ErrorCode::BadValue => "a value is out of range",
        ErrorCode::NoPush => "no push in progress (interrupted by another request?)",
        ErrorCode::RolledBack => "the step was not finite and was undone",
        ErrorCode::OutOfMemory => "the device is out of memory",
        ErrorCode::Overrun => {
            return format!("its receive queue overflowed and {detail} bytes were lost (send one request at a time)")
        }
        ErrorCode::Flash if detail == 1 => "the flash took the save without an error but does not read it back (QEMU's flash is a ROM); the previous checkpoint stays",
        ErrorCode::Flash => "the flash reported an error while saving; the previous checkpoint stays",
        ErrorCode::NoFlash => "it has no checkpoint flash",
    };
    why.to_string()
}

/// What a stream of learning steps did, counted by the host from the device's answers.
#[derive(Debug, Default)]
pub struct Tally {
    /// For each step the device took: whether it predicted the sample's label right before
    /// learning it (prequential evaluation).
    pub hits: Vec<bool>,
    /// Steps it refused as not finite and undid.
    pub rolled_back: usize,
    /// Total cost of the steps taken, in the device's counter units.
    pub count: u64,
    /// The device's count of samples learned, after the last step taken.
    pub samples_seen: u32,
}

impl Tally {
    /// Counts a step taken on a sample labelled `label`.
    pub fn add(&mut self, label: u8, step: &Learned) {
        self.hits.push(step.predicted_before == label);
        self.count += step.count;
        self.samples_seen = step.samples_seen;
    }

    /// Counts the answer to a step on a sample labelled `label`. A rolled-back step is the
    /// device protecting its model: counted, and the stream goes on; any other refusal or
    /// answer is the error.
    pub fn record(
        &mut self,
        label: u8,
        answer: Result<Learned, AnswerError>,
    ) -> Result<(), AnswerError> {
        match answer {
            Ok(step) => self.add(label, &step),
            Err(AnswerError::Refused {
                code: ErrorCode::RolledBack,
                ..
            }) => self.rolled_back += 1,
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Steps the device took.
    pub fn learned(&self) -> usize {
        self.hits.len()
    }

    /// Prequential accuracy over the steps `range` of those taken (0 over none).
    pub fn accuracy(&self, range: impl std::slice::SliceIndex<[bool], Output = [bool]>) -> f64 {
        let hits = &self.hits[range];
        hits.iter().filter(|&&h| h).count() as f64 / hits.len().max(1) as f64
    }

    /// Prequential accuracy over the last quarter of the steps taken.
    pub fn last_quarter(&self) -> f64 {
        self.accuracy(self.hits.len() - self.hits.len() / 4..)
    }

    /// Average cost of a step taken.
    pub fn per_step(&self) -> u64 {
        self.count / self.hits.len().max(1) as u64
    }
}
