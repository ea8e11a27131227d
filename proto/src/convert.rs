//! v0 ↔ v1 conversion (Mesos's `evolve` and `devolve`). The `mesos.v1` messages keep the
//! field numbers and types of their `mesos` twins, so a message converts by encoding it as
//! one and decoding it as the other; unknown fields travel along.

use prost::{Message, Name};

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The bytes do not decode as the target type: the two types are not twins.
    #[error("{from} does not convert to {to}: {source}")]
    Decode {
        from: String,
        to: String,
        source: prost::DecodeError,
    },
    /// `evolve` was asked for a non-v1 target or `devolve` for a v1 one.
    #[error("{0} is on the wrong side of the v0/v1 divide for this conversion")]
    Direction(String),
}

fn is_v1<M: Name>() -> bool {
    M::PACKAGE == "mesos.v1" || M::PACKAGE.starts_with("mesos.v1.")
}

fn reencode<A: Message + Name, B: Message + Name + Default>(a: &A) -> Result<B, ConvertError> {
    B::decode(a.encode_to_vec().as_slice()).map_err(|source| ConvertError::Decode {
        from: A::full_name(),
        to: B::full_name(),
        source,
    })
}

/// A v0 message as its v1 twin (e.g. `mesos.TaskInfo` → `mesos.v1.TaskInfo`).
pub fn evolve<V0: Message + Name, V1: Message + Name + Default>(
    v0: &V0,
) -> Result<V1, ConvertError> {
    if is_v1::<V0>() || !is_v1::<V1>() {
        return Err(ConvertError::Direction(format!(
            "{} → {}",
            V0::full_name(),
            V1::full_name()
        )));
    }
    reencode(v0)
}

/// A v1 message as its v0 twin (e.g. `mesos.v1.scheduler.Call` → `mesos.scheduler.Call`).
pub fn devolve<V1: Message + Name, V0: Message + Name + Default>(
    v1: &V1,
) -> Result<V0, ConvertError> {
    if !is_v1::<V1>() || is_v1::<V0>() {
        return Err(ConvertError::Direction(format!(
            "{} → {}",
            V1::full_name(),
            V0::full_name()
        )));
    }
    reencode(v1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesos::{self, v1};

    #[test]
    fn evolve_and_devolve_round_trip_a_status_and_keep_every_field() {
        let status = mesos::TaskStatus {
            task_id: mesos::TaskId { value: "t".into() },
            state: mesos::TaskState::TaskFinished as i32,
            uuid: Some(vec![1, 2, 3]),
            message: Some("done".into()),
            ..Default::default()
        };
        let v1s: v1::TaskStatus = evolve(&status).unwrap();
        assert_eq!(v1s.state(), v1::TaskState::TaskFinished);
        assert_eq!(v1s.uuid.as_deref(), Some(&[1u8, 2, 3][..]));
        let back: mesos::TaskStatus = devolve(&v1s).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn wrong_direction_and_mismatched_types_are_typed_errors() {
        let id = mesos::TaskId { value: "t".into() };
        assert!(matches!(
            devolve::<_, mesos::TaskId>(&id),
            Err(ConvertError::Direction(_))
        ));
        assert!(matches!(
            evolve::<_, mesos::TaskId>(&id),
            Err(ConvertError::Direction(_))
        ));
        // A string where the target expects a nested message with a required field.
        let info = mesos::FrameworkId {
            value: "\u{1}".into(),
        };
        let got = evolve::<_, v1::scheduler::Call>(&info);
        assert!(matches!(got, Err(ConvertError::Decode { .. })), "{got:?}");
    }
}
