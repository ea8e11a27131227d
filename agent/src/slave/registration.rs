//! Registration with the master (randomized backoff, re-registration), pings and the
//! ping timeout, and the master asking the agent to shut down.

use super::*;

impl Slave {
    /// Starts (or restarts) registering after a random wait in `[0, first_wait]`.
    pub(super) fn start_registration(&mut self, ctx: &mut Ctx<'_, Self>, first_wait: Duration) {
        self.state = RegState::Registering;
        self.reg_generation += 1;
        self.backoff = self.config.registration_backoff_factor * 2;
        let generation = self.reg_generation;
        ctx.delay(random_upto(first_wait), "register", move |me, ctx| {
            me.attempt_registration(ctx, generation)
        });
    }

    pub(super) fn attempt_registration(&mut self, ctx: &mut Ctx<'_, Self>, generation: u64) {
        if generation != self.reg_generation || self.state == RegState::Registered {
            return;
        }
        let master = self.config.master.clone();
        ctx.link(&master);
        match &self.id {
            None => {
                let msg = RegisterSlaveMessage {
                    slave: self.slave_info(ctx),
                    version: Some(VERSION.into()),
                    checkpointed_resources: Vec::new(),
                    agent_capabilities: Self::capabilities(),
                    resource_version_uuid: Some(Uuid {
                        value: self.resource_version_uuid.clone(),
                    }),
                };
                tracing::info!(%master, "registering with the master");
                ctx.send(&master, &msg);
            }
            Some(id) => {
                let msg = self.reregister_message(ctx, id.clone());
                tracing::info!(%master, agent_id = %id.value, tasks = msg.tasks.len(), "re-registering with the master");
                ctx.send(&master, &msg);
            }
        }
        let (wait, next) = registration_backoff(self.backoff);
        self.backoff = next;
        ctx.delay(wait, "register_retry", move |me, ctx| {
            me.attempt_registration(ctx, generation)
        });
    }

    pub(super) fn reregister_message(
        &self,
        ctx: &Ctx<'_, Self>,
        id: SlaveId,
    ) -> ReregisterSlaveMessage {
        let mut tasks = Vec::new();
        let mut executor_infos = Vec::new();
        let mut frameworks = Vec::new();
        for fw in self.frameworks.values() {
            frameworks.push(fw.info.clone());
            for ex in fw
                .executors
                .values()
                .filter(|e| e.state != ExecState::Terminated)
            {
                if !ex.command_executor {
                    executor_infos.push(ex.info.clone());
                }
                let first = tasks.len();
                tasks.extend(ex.tasks.values().cloned());
                for t in ex
                    .queued
                    .iter()
                    .chain(ex.queued_groups.iter().flat_map(|g| g.tasks.iter()))
                {
                    tasks.push(self.task_record(fw, ex, t, TaskState::TaskStaging));
                }
                // A command executor is the agent's own and is not listed above: its tasks
                // name no executor, as genuine agents send them (a master rejects a RUNNING
                // task whose executor is not listed).
                if ex.command_executor {
                    for t in &mut tasks[first..] {
                        t.executor_id = None;
                    }
                }
            }
        }
        let mut slave = self.slave_info(ctx);
        slave.id = Some(id);
        ReregisterSlaveMessage {
            slave,
            tasks,
            executor_infos,
            completed_frameworks: Vec::new(),
            version: Some(VERSION.into()),
            checkpointed_resources: Vec::new(),
            frameworks,
            agent_capabilities: Self::capabilities(),
            resource_version_uuid: Some(Uuid {
                value: self.resource_version_uuid.clone(),
            }),
        }
    }

    pub(super) fn registered(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: SlaveRegisteredMessage,
    ) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring SlaveRegisteredMessage not from the master");
            return;
        }
        if let Some(id) = &self.id {
            if *id != msg.slave_id {
                tracing::error!(old = %id.value, new = %msg.slave_id.value, "registered under a different id; ignoring");
                return;
            }
        }
        if self.state == RegState::Registered {
            return;
        }
        tracing::info!(agent_id = %msg.slave_id.value, "registered with the master");
        self.id = Some(msg.slave_id);
        self.on_registered(
            ctx,
            msg.connection.and_then(|c| c.total_ping_timeout_seconds),
        );
    }

    pub(super) fn reregistered(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: SlaveReregisteredMessage,
    ) {
        if from != self.config.master {
            tracing::warn!(%from, "ignoring SlaveReregisteredMessage not from the master");
            return;
        }
        if self.id.as_ref() != Some(&msg.slave_id) {
            tracing::error!(new = %msg.slave_id.value, "re-registered under a different agent id; shutting down");
            self.shut_down(ctx, "re-registered with a different agent id".into());
            return;
        }
        if self.state == RegState::Registered {
            tracing::warn!(agent_id = %msg.slave_id.value, "already re-registered with the master");
        } else {
            tracing::info!(agent_id = %msg.slave_id.value, "re-registered with the master");
            self.on_registered(
                ctx,
                msg.connection.and_then(|c| c.total_ping_timeout_seconds),
            );
        }
        // As in Mesos, every accepted reply's requests are answered, even a repeated one's.
        self.reconcile_with_master(ctx, msg.reconciliations);
    }

    pub(super) fn on_registered(&mut self, ctx: &mut Ctx<'_, Self>, ping_timeout: Option<f64>) {
        self.state = RegState::Registered;
        self.reg_generation += 1;
        // From the master: NaN, negative and zero keep the default; huge values saturate.
        if let Some(d) = ping_timeout
            .and_then(|s| libprocess::duration::from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
        {
            self.ping_timeout = d;
        }
        self.reset_ping_timer(ctx);
        // Anything queued while disconnected goes out now.
        for head in self.sum.heads() {
            self.forward(ctx, head);
        }
        // Launches the master sent before we heard we were registered run now (before a
        // re-registration's reconciliation, which would otherwise call them unknown).
        self.run_held_launches(ctx);
    }

    pub(super) fn ping(&mut self, ctx: &mut Ctx<'_, Self>, from: Upid, msg: PingSlaveMessage) {
        ctx.send(&from, &PongSlaveMessage {});
        ctx.metrics().counter("slave/pings_received").inc();
        if from.address() != self.config.master.address() {
            return;
        }
        if self.state == RegState::Registered && !msg.connected {
            tracing::warn!("the master says we are not connected; re-registering");
            self.start_registration(ctx, Duration::ZERO);
            return;
        }
        self.reset_ping_timer(ctx);
    }

    pub(super) fn reset_ping_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.ping_generation += 1;
        let generation = self.ping_generation;
        ctx.delay(self.ping_timeout, "ping_timeout", move |me, ctx| {
            if generation == me.ping_generation && me.state == RegState::Registered {
                tracing::warn!(timeout = ?me.ping_timeout, "no ping from the master; re-registering");
                let factor = me.config.registration_backoff_factor;
                me.start_registration(ctx, factor);
            }
        });
    }

    pub(super) fn master_shutdown(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: Upid,
        msg: ShutdownMessage,
    ) {
        if from != self.config.master {
            return;
        }
        let why = msg
            .message
            .unwrap_or_else(|| "the master asked the agent to shut down".into());
        tracing::warn!(%why, "shutting down");
        self.shut_down(ctx, why);
    }

    pub(super) fn shut_down(&mut self, _ctx: &mut Ctx<'_, Self>, why: String) {
        let containers: Vec<String> = self
            .frameworks
            .values()
            .flat_map(|fw| fw.executors.values().map(|ex| ex.container_id.clone()))
            .collect();
        for c in containers {
            self.destroy_container(&c);
        }
        self.state = RegState::Disconnected;
        self.reg_generation += 1;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(why);
        }
    }

    // ---- tasks --------------------------------------------------------------------------
}
