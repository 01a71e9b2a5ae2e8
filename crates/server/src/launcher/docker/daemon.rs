//! The Docker daemon and registries: connecting (a daemon that never answers is named within
//! seconds), image labels, pulls with credentials, the API's errors.

use super::*;

pub(super) fn api(daemon: &str, what: impl Into<String>) -> impl FnOnce(ApiError) -> Error {
    let (daemon, what) = (daemon_name(daemon).to_string(), what.into());
    move |source| Error::Api {
        daemon,
        what,
        source,
    }
}

/// The daemon a `base_url` names, for messages (`""` is the local default socket).
pub fn daemon_name(base_url: &str) -> &str {
    if base_url.is_empty() {
        DEFAULT_DAEMON
    } else {
        base_url
    }
}

/// Connects to the daemon a provider's `base_url` names and agrees on an API version (the
/// daemon may be older than the client); a daemon that does not answer within
/// [`ANSWER_TIMEOUT`] is an [`Error::NoAnswer`].
pub async fn connect(base_url: &str) -> Result<Docker, Error> {
    connect_within(base_url, ANSWER_TIMEOUT).await
}

/// [`connect`] with another bound on the first answer.
pub async fn connect_within(base_url: &str, answer: Duration) -> Result<Docker, Error> {
    let url = daemon_name(base_url);
    let docker = if let Some(path) = url.strip_prefix("unix://") {
        Docker::connect_with_unix(path, API_TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else if url.starts_with('/') {
        Docker::connect_with_unix(url, API_TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else if url.starts_with("tcp://") || url.starts_with("http://") {
        Docker::connect_with_http(url, API_TIMEOUT, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(Error::BaseUrl(base_url.to_string()));
    };
    let connect = |source| Error::Connect {
        daemon: url.to_string(),
        source,
    };
    let negotiated = tokio::time::timeout(answer, docker.map_err(connect)?.negotiate_version());
    match negotiated.await {
        Ok(r) => r.map_err(connect),
        Err(_) => Err(Error::NoAnswer {
            daemon: url.to_string(),
            secs: answer.as_secs(),
        }),
    }
}

/// The labels of an image, or [`Error::NoImage`].
pub async fn image_labels(
    docker: &Docker,
    base_url: &str,
    image: &str,
) -> Result<HashMap<String, String>, Error> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(i.config.and_then(|c| c.labels).unwrap_or_default()),
        Err(e) if status(&e) == Some(404) => Err(Error::NoImage {
            image: image.to_string(),
            daemon: daemon_name(base_url).to_string(),
        }),
        Err(e) => Err(api(base_url, format!("cannot inspect image {image}"))(e)),
    }
}

/// The registry an image reference names (`host[:port]/…`, or `localhost/…`); `None` for a
/// name without one (Docker Hub's), which is never pulled: write `docker.io/…` to pull from
/// there.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The key of a docker provider's `metadata` that may carry its registry's credentials:
/// `{"username": …, "password": …}`, the shape of a pull's `auth_config` in Docker's Python
/// SDK, which FATE Flow's docker manager drives.
pub const AUTH_CONFIG: &str = "auth_config";

/// The registry credentials of a provider's `metadata` (`auth_config`), if it has them; a
/// reason when they are there but not two strings.
pub fn metadata_auth(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<RegistryAuth>, &'static str> {
    let Some(auth) = metadata.get(AUTH_CONFIG) else {
        return Ok(None);
    };
    let field = |k: &str| auth.get(k).and_then(serde_json::Value::as_str);
    match (field("username"), field("password")) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(RegistryAuth {
            username: u.to_string(),
            password: p.to_string(),
        })),
        _ => Err(
            "metadata.auth_config must be {\"username\": <non-empty string>, \
                  \"password\": <string>}",
        ),
    }
}

/// A provider's `metadata` as it may be shown (answers, messages, logs): any `auth_config`
/// keeps its username only, the rest of it removed.
pub fn redacted(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut shown = metadata.clone();
    if let Some(auth) = shown.get_mut(AUTH_CONFIG) {
        let user = auth.get("username").filter(|u| u.is_string()).cloned();
        *auth = match user {
            Some(u) => serde_json::json!({"username": u, "password": "******"}),
            None => serde_json::json!("******"),
        };
    }
    shown
}

/// Pulls `image` from the registry it names, with `auth` if given. The daemon's answer is
/// the reason of a failure (it never holds the password).
pub async fn pull(
    docker: &Docker,
    base_url: &str,
    image: &str,
    auth: Option<&RegistryAuth>,
) -> Result<(), Error> {
    let failed = |reason: String| Error::Pull {
        image: image.to_string(),
        daemon: daemon_name(base_url).to_string(),
        reason,
    };
    let Some(registry) = registry_of(image) else {
        return Err(failed(
            "the image names no registry (write it as <registry>/<name>:<tag> to pull it)".into(),
        ));
    };
    let credentials = auth.map(|a| bollard::auth::DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(a.password.clone()),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    });
    tracing::info!(
        image,
        registry,
        with_credentials = auth.is_some(),
        "pulling image"
    );
    let mut stream = std::pin::pin!(docker.create_image(
        Some(CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        }),
        None,
        credentials,
    ));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    return Err(failed(message));
                }
            }
            Err(ApiError::DockerResponseServerError { message, .. }) => {
                return Err(failed(message));
            }
            Err(ApiError::DockerStreamError { error }) => return Err(failed(error)),
            Err(e) => return Err(failed(e.to_string())),
        }
    }
    Ok(())
}

pub(super) fn status(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
