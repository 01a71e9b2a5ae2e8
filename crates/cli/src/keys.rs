//! `ferroflow keys`: a site's credentials for mutual TLS and signed commands between
//! ferroflow sites (`docs/security.md`): make them, hand out the peer card, trust
//! a partner's card, stop trusting one.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ferroflow_server::config::{Config, Overrides, TlsConfig};
use ferroflow_server::tls::credentials;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make the site's TLS key and self-signed certificate (bound to its parties) and its
    /// signing key, in `<data_dir>/credentials/` (or the files `security.tls` names).
    Init {
        #[command(flatten)]
        site: SiteArgs,
        /// A party the site serves (repeat for several); the certificate is bound to them.
        #[arg(long = "party", required = true)]
        parties: Vec<String>,
        /// A host name or address peers reach the site at (repeat; default localhost).
        #[arg(long = "host")]
        hosts: Vec<String>,
    },
    /// Print the site's peer card (certificate, signing key, parties) for its partners.
    Export {
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Trust a partner's peer card (a file, or `-` for standard input). Cards add up: a
    /// partner's old and new cards are both trusted until one is removed (rotation).
    AddPeer {
        #[command(flatten)]
        site: SiteArgs,
        card: PathBuf,
    },
    /// Stop trusting a card, by its key id.
    RemovePeer {
        #[command(flatten)]
        site: SiteArgs,
        key_id: String,
    },
    /// List the trusted cards: key id and parties.
    List {
        #[command(flatten)]
        site: SiteArgs,
    },
}

/// Which site: its config and data dir, as `serve` takes them.
#[derive(clap::Args, Debug)]
pub struct SiteArgs {
    /// A service_conf.yaml (its `security.tls` names the files).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The site's data dir (default: data_dir, or ./.ferroflow).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl SiteArgs {
    fn files(&self) -> Result<TlsConfig> {
        let config = Config::load(
            self.config.as_deref(),
            &Overrides {
                data_dir: self.data_dir.clone(),
                ..Default::default()
            },
        )?;
        Ok(config
            .tls
            .unwrap_or_else(|| TlsConfig::in_dir(&config.data_dir.join("credentials"))))
    }
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Init {
            site,
            parties,
            hosts,
        } => {
            let files = site.files()?;
            let card = credentials::init(&files, &parties, &hosts)?;
            eprintln!(
                "credentials written: {}, {}, {} (key id {})",
                files.cert.display(),
                files.key.display(),
                files.signing_key.display(),
                card.key_id
            );
            print!("{}", card.to_text());
        }
        Command::Export { site } => {
            print!("{}", credentials::export(&site.files()?)?.to_text());
        }
        Command::AddPeer { site, card } => {
            let text = if card.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&card)
                    .with_context(|| format!("cannot read {}", card.display()))?
            };
            let peer = credentials::add_peer(&site.files()?, &text)?;
            println!(
                "trusted key {} for parties {} (restart the site to use it)",
                peer.card.key_id,
                peer.card.parties.join(",")
            );
        }
        Command::RemovePeer { site, key_id } => {
            if credentials::remove_peer(&site.files()?, &key_id)? {
                println!("key {key_id} no longer trusted (restart the site to apply)");
            } else {
                anyhow::bail!("no trusted card has key id {key_id}");
            }
        }
        Command::List { site } => {
            for p in credentials::load_peers(&site.files()?.peers_dir)? {
                println!("{}  parties {}", p.card.key_id, p.card.parties.join(","));
            }
        }
    }
    Ok(())
}
