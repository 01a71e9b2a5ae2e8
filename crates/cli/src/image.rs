//! `ferroflow image demo`: the demo provider as an algorithm image, built here with no
//! registry — this binary and the shared libraries it loads in an otherwise empty root
//! filesystem, imported into the Docker daemon. Its entry point is
//! `ferroflow component execute` (CONFIG from the `CONFIG` variable, results through api-3);
//! its labels `component.<n>.name` / `component.<n>.description` tell a site registering it
//! (`device: docker`) its components.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ferroflow_server::launcher::docker::image::{self, RootFs};

/// Where the binary lives inside the image.
pub const BINARY: &str = "/usr/local/bin/ferroflow";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image's tag (default: ferroflow-demo:<version>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Tag with the content's digest instead (ferroflow-demo:<version>-<digest>), so that
    /// different builds never replace each other's image.
    #[arg(long, conflicts_with = "tag")]
    pub content_tag: bool,
    /// The Docker daemon (as a provider's base_url; default: the local socket).
    #[arg(long, default_value = "")]
    pub base_url: String,
    /// The ferroflow binary to package (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
}

/// The root filesystem and the image settings of the demo image.
pub fn demo_image(binary: &std::path::Path) -> Result<(RootFs, Vec<String>)> {
    let mut fs = RootFs::new();
    fs.executable(binary, BINARY)
        .with_context(|| format!("cannot package {}", binary.display()))?;
    let mut changes = vec![
        format!(
            "ENTRYPOINT {}",
            image::exec_form(&[BINARY, "component", "execute"])
        ),
        "ENV HOME=/tmp".to_string(),
        format!(
            "LABEL org.opencontainers.image.title=ferroflow-demo org.opencontainers.image.version={}",
            env!("CARGO_PKG_VERSION")
        ),
    ];
    let builtins = crate::demo_provider(BINARY);
    for (i, (name, desc)) in builtins[0].components.iter().enumerate() {
        // Label values as JSON strings: the Dockerfile quoting rules accept them.
        changes.push(format!(
            "LABEL component.{i}.name={} component.{i}.description={}",
            serde_json::to_string(name)?,
            serde_json::to_string(&desc.to_string())?
        ));
    }
    Ok((fs, changes))
}

pub async fn run(args: Args) -> Result<bool> {
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe().context("cannot find this binary")?,
    };
    let (fs, changes) = demo_image(&binary)?;
    let version = env!("CARGO_PKG_VERSION");
    let tag = match (args.tag, args.content_tag) {
        (Some(t), _) => t,
        (None, true) => format!("ferroflow-demo:{version}-{}", fs.digest(&changes)?),
        (None, false) => format!("ferroflow-demo:{version}"),
    };
    let built = image::ensure(&args.base_url, &tag, &fs, &changes).await?;
    eprintln!(
        "{} {} ({})",
        if built.fresh { "built" } else { "up to date:" },
        built.tag,
        built.id
    );
    println!("{}", built.tag);
    Ok(true)
}
