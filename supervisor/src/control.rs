//! Control commands: the supervisor answers its own and forwards the rest to the child that
//! owns them (the tables in `shared::ipc`).

use shared::ipc::{commands_of, CommandSpec, Role, ToChild};
use shared::unixctl::Incoming;

use crate::run::{Supervisor, EXIT_OK};

/// Commands the supervisor itself answers.
pub const SUPERVISOR_COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("list-commands", "", 0, 0),
    CommandSpec::new("version", "", 0, 0),
    CommandSpec::new("exit", "[--restart]", 0, 1),
    CommandSpec::new("vlog/list", "", 0, 0),
    CommandSpec::new("vlog/set", "{spec | PATTERN:destination:pattern}", 0, usize::MAX),
    CommandSpec::new("vlog/reopen", "", 0, 0),
    CommandSpec::new("memory/show", "", 0, 0),
    CommandSpec::new("supervisor/status", "[--format json]", 0, 2),
    CommandSpec::new("supervisor/restart", "flowctl|pinctrl", 1, 1),
];

/// Every command the control socket accepts.
pub fn all_commands() -> Vec<CommandSpec> {
    let mut all = SUPERVISOR_COMMANDS.to_vec();
    for role in Role::ALL {
        all.extend_from_slice(commands_of(role));
    }
    all
}

pub fn version_text() -> String {
    format!(
        "chassisd {} (ovn-controller {} compatible)\nOpenFlow versions 0x6:0x6\n",
        env!("CARGO_PKG_VERSION"),
        shared::OVN_COMPAT_VERSION
    )
}

fn owner(method: &str) -> Option<Role> {
    Role::ALL.into_iter().find(|r| commands_of(*r).iter().any(|c| c.name == method))
}

impl Supervisor {
    pub fn on_control(&mut self, request: Incoming) {
        if let Some(role) = owner(&request.method) {
            self.forward(role, request);
            return;
        }
        let result = match request.method.as_str() {
            "version" => Ok(version_text()),
            "exit" => match request.args.first().map(String::as_str) {
                None => {
                    self.request_exit(EXIT_OK, true);
                    Ok(String::new())
                }
                Some("--restart") => {
                    self.request_exit(EXIT_OK, false);
                    Ok(String::new())
                }
                Some(other) => Err(format!("exit: unknown argument \"{other}\" (use --restart)")),
            },
            "vlog/list" => Ok(shared::vlog::list()),
            "vlog/set" => self.vlog_set(&request.args),
            "vlog/reopen" => {
                self.reopen_logs();
                Ok(String::new())
            }
            "memory/show" => {
                // flowctl adds its database sizes (idl-cells-*), as ovn-controller reports them.
                let own = self.memory_show();
                self.forward_with(Role::Flowctl, request, Some(own));
                return;
            }
            "supervisor/status" => match request.args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                [] => Ok(crate::status::as_text(self)),
                ["--format", "json"] | ["--format=json"] | ["json"] => Ok(crate::status::as_json(self).to_string()),
                ["--format", "text"] | ["--format=text"] => Ok(crate::status::as_text(self)),
                other => Err(format!("supervisor/status: unknown arguments {other:?} (use --format json|text)")),
            },
            "supervisor/restart" => match request.args.first().and_then(|n| Role::parse(n)) {
                Some(role) => Ok(self.restart(role)),
                None => Err("supervisor/restart: expected flowctl or pinctrl".to_string()),
            },
            other => Err(format!("\"{other}\" is not implemented")),
        };
        request.respond(result);
    }

    fn vlog_set(&mut self, specs: &[String]) -> Result<String, String> {
        // An empty spec list is "-v": everything to debug, as OVS does.
        let specs: Vec<String> = if specs.is_empty() { vec![String::new()] } else { specs.to_vec() };
        shared::vlog::set(&specs)?;
        self.launch.vlog.extend(specs.iter().cloned());
        self.broadcast(&ToChild::SetLogLevels { specs });
        Ok(String::new())
    }

    fn memory_show(&self) -> String {
        let mut parts = vec![format!("chassisd-rss-kb:{}", shared::child::rss_kb(std::process::id()).unwrap_or(0))];
        for slot in &self.slots {
            if let Some(pid) = slot.pid {
                parts.push(format!("{}-rss-kb:{}", slot.name(), shared::child::rss_kb(pid as u32).unwrap_or(0)));
            }
        }
        parts.join(" ")
    }
}
