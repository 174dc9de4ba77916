//! What the launcher prints for people: where everything is, and when it is ready.

use crate::plan::Plan;

/// What the stack started and where: printed once every process has a PID.
pub(super) fn print(plan: &Plan, pids: &[(String, u32)]) {
    let pid_of = |name: &str| {
        pids.iter()
            .find(|(candidate, _)| candidate == name)
            .map_or(0, |(_, pid)| *pid)
    };
    println!();
    println!("Flotilla is starting. Open http://{}", plan.proxy.addr);
    println!(
        "  admin   http://{}/  (dashboard; /status, /metrics)",
        plan.admin
    );
    println!(
        "  proxy   http://{}  pid {}",
        plan.proxy.addr,
        pid_of("proxy")
    );
    if let Some((https, tls)) = &plan.tls {
        // Absolute, so the line works from any directory.
        let ca = std::path::absolute(tls.ca_path()).unwrap_or_else(|_| tls.ca_path());
        println!("  https   https://localhost:{}  ({https})", https.port());
        println!("          CA to trust: {}", ca.display());
        println!(
            "          curl --cacert {} https://localhost:{}/",
            ca.display(),
            https.port()
        );
    }
    for instance in &plan.instances {
        println!(
            "  {:<7} http://{}  pid {}",
            instance.name,
            instance.addr,
            pid_of(&instance.name)
        );
    }
    println!("Ctrl-C stops everything.");
    println!();
}

/// The line that says every process answers its health check.
pub(super) fn ready(plan: &Plan) {
    match &plan.tls {
        Some((https, _)) => println!(
            "stack: ready at http://{} and https://localhost:{}",
            plan.proxy.addr,
            https.port()
        ),
        None => println!("stack: ready at http://{}", plan.proxy.addr),
    }
}
