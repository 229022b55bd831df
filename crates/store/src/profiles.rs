//! The profile versions the store has seen: a card record names its profile by content hash
//! (`default@f46c9f4e667b`), which a reviewer cannot read; this table gives each hash the
//! `version` and `change_note` of its `profile.toml` ("1.1.0: rule modes …"), so that the
//! console says which version produced each week's numbers.
//!
//! A service writes its profile's row once at start-up ([`Store::record_profile_version`]); a
//! row is never changed, because the same hash is the same files. A hash with no row (cards
//! written before this table existed) is shown as its hash alone.

use sqlx::Row as _;

use crate::{Store, StoreError, on_pool};

/// One profile version, as its author described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileVersion {
    /// `name@hash`, as on the card records.
    pub profile_version: String,
    /// `version` of `profile.toml` (`1.1.0`).
    pub version: String,
    /// `change_note` of `profile.toml`.
    pub change_note: String,
}

impl Store {
    /// Records what `profile.profile_version` is, first seen at `at_ms`; a hash already
    /// recorded keeps its row.
    pub async fn record_profile_version(
        &self,
        profile: &ProfileVersion,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO profile_versions (profile_version, version, change_note, \
                 first_seen_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (profile_version) DO NOTHING",
            )
            .bind(&profile.profile_version)
            .bind(&profile.version)
            .bind(&profile.change_note)
            .bind(at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every profile version recorded, in the order they were first seen.
    pub async fn profile_versions(&self) -> Result<Vec<ProfileVersion>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "SELECT profile_version, version, change_note FROM profile_versions \
                 ORDER BY first_seen_ms, profile_version",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ProfileVersion {
                    profile_version: r.try_get(0)?,
                    version: r.try_get(1)?,
                    change_note: r.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_profile_version_is_recorded_once_and_read_back_in_the_order_first_seen() {
        let dir = std::env::temp_dir().join(format!(
            "gravida-store-profiles-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let store = Store::connect(&crate::sqlite_url_in(&dir)).await.unwrap();
        let version = |hash: &str, version: &str, note: &str| ProfileVersion {
            profile_version: format!("default@{hash}"),
            version: version.into(),
            change_note: note.into(),
        };
        let new = version("bbb", "1.1.0", "rule modes");
        let old = version("aaa", "1.0.0", "first");
        store.record_profile_version(&new, 2_000).await.unwrap();
        store.record_profile_version(&old, 1_000).await.unwrap();
        // Again, with another note and time: the first row stays.
        let again = version("bbb", "9.9.9", "changed?");
        store.record_profile_version(&again, 3_000).await.unwrap();
        assert_eq!(store.profile_versions().await.unwrap(), [old, new]);
        store.close().await;
    }
}
