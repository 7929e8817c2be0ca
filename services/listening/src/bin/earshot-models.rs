//! `earshot-models train` writes the shipped model file from the public
//! corpora and the team's labels; `earshot-models accuracy` measures the
//! shipped models (and the recipe across domains). See the README.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use earshot_listening::pipeline::model::Models;
use earshot_listening::training;

#[derive(Parser)]
#[command(about = "Train and measure Earshot's listening models")]
struct Cli {
    /// The public corpora (banking77/, bitext-support/, complaints-acl2019/,
    /// tweeteval-sentiment/, vader-icwsm2014/).
    #[arg(long, env = "EARSHOT_DATA", default_value = "../shared/data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trains every model and writes the model file the service compiles in.
    Train {
        #[arg(long, default_value = "services/listening/models/listening.model")]
        out: PathBuf,
        /// Train even when a corpus is missing (the model will be weaker).
        #[arg(long)]
        allow_missing: bool,
    },
    /// Prints accuracy, per-class precision, recall and F1 on held-out
    /// splits, and across domains.
    Accuracy,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train { out, allow_missing } => {
            let (models, missing) = training::train(&cli.data)?;
            if !missing.is_empty() && !allow_missing {
                let names: Vec<&str> = missing.iter().map(|s| s.name()).collect();
                bail!(
                    "not found under {}: {} (pass --allow-missing to train without)",
                    cli.data.display(),
                    names.join(", ")
                );
            }
            let bytes = models.to_bytes();
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("{} → {} ({} bytes)", models.id, out.display(), bytes.len());
            println!("rebuild the service to ship it (the file is compiled in)");
        }
        Command::Accuracy => {
            print!("{}", training::accuracy(Models::shipped(), &cli.data)?);
        }
    }
    Ok(())
}
