//! The cluster secret that every Cairn node's bus proves (`cluster-secret`): `create`
//! installs one on nodes that have none, `add-node` gives a new node the cluster's.
//!
//! A node keeps a secret set at run time in its own directory, so it survives restarts.
//! redis-server nodes have no such setting (`CONFIG GET` answers nothing) and are left
//! alone.

use anyhow::bail;

use super::node::Node;

/// A node's secret: `None` for a node without the setting (redis-server), `Some("")` for a
/// Cairn node that has none yet.
pub fn of(node: &mut Node) -> anyhow::Result<Option<String>> {
    let pair: Vec<String> = node.call(&["CONFIG", "GET", "cluster-secret"])?;
    Ok(pair.get(1).cloned())
}

/// 32 random bytes, as 64 hex digits.
pub fn generate() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Makes every Cairn node among `nodes` hold one secret: `given`, else the one some of
/// them share already, else a new one. A node that holds a different secret stops the
/// creation (changing it would split it from whatever it was set up with).
pub fn install(nodes: &mut [Node], given: Option<&str>) -> anyhow::Result<()> {
    let mut held = Vec::new();
    for n in nodes.iter_mut() {
        held.push(of(n)?);
    }
    let existing: Vec<&str> = held
        .iter()
        .flatten()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let target = match (given, existing.first()) {
        (Some(g), _) => g.to_string(),
        (None, Some(&e)) => e.to_string(),
        (None, None) if held.iter().any(Option::is_some) => generate(),
        (None, None) => return Ok(()),
    };
    if target.len() < 16 {
        bail!("a cluster secret needs at least 16 characters");
    }
    let mut installed = 0;
    for (n, h) in nodes.iter_mut().zip(&held) {
        match h.as_deref() {
            None => {}
            Some(s) if s == target => {}
            Some("") => {
                n.call::<()>(&["CONFIG", "SET", "cluster-secret", &target])?;
                installed += 1;
            }
            Some(_) => bail!(
                "{} holds a different cluster-secret than the other nodes: give them all the same one (or none, and this tool installs one)",
                n.addr
            ),
        }
    }
    if installed > 0 {
        println!(
            ">>> Installed the cluster secret on {installed} node(s) (each keeps it in its own directory)"
        );
    }
    Ok(())
}

/// Gives `new` the secret `existing` holds, unless it has it already.
pub fn share(existing: &mut Node, new: &mut Node) -> anyhow::Result<()> {
    let (Some(theirs), Some(mine)) = (of(existing)?, of(new)?) else {
        return Ok(());
    };
    if theirs.is_empty() || theirs == mine {
        return Ok(());
    }
    if !mine.is_empty() {
        bail!(
            "{} holds a different cluster-secret than the cluster: give it the cluster's (CONFIG GET cluster-secret on {})",
            new.addr,
            existing.addr
        );
    }
    new.call::<()>(&["CONFIG", "SET", "cluster-secret", &theirs])?;
    println!(">>> Gave {} the cluster's secret", new.addr);
    Ok(())
}
