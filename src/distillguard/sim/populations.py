"""Legitimate populations: individuals, VPN users, students, agentic developers,
enterprise batch jobs and benchmark evaluators."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np

from distillguard.sim import sessions
from distillguard.sim.clients import pick_client
from distillguard.sim.corpus import Prompt
from distillguard.sim.exchange import GATEWAY_EPOCH, GATEWAY_ISO, GATEWAY_OFFSET, Emitter, Req, Sink
from distillguard.sim.responses import Resp
from distillguard.sim.identity import DAY_MS, Account, People, account_age_ms, payment_fp, rand_id, verification_for
from distillguard.sim.scenario import (
    AgenticDevPopulation,
    BenchmarkPopulation,
    EnterprisePopulation,
    IndividualPopulation,
    Population,
    StudentsPopulation,
    VpnPopulation,
)
from distillguard.sim.schedule import HOUR_MS, rhythm, rngs, session_starts, volume_weights
from distillguard.sim.world import World

THINKING_BUDGETS = (1024, 2048, 4000, 8000, 10_000, 16_000, 32_000)
THINKING_CUM = tuple(itertools.accumulate((10, 20, 20, 20, 10, 12, 8)))


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class Group:
    """Accounts that generate traffic together (a population or a campaign)."""

    name: str
    label: str
    campaign: str | None
    accounts: list[Account]
    emitter: Emitter

    def run_hour(self, hour: int) -> None:
        """Generate every session that starts in scenario hour ``hour``."""
        raise NotImplementedError


class LegitPopulation(Group):
    """A legitimate population whose sessions start as per-account Poisson processes."""

    daily = "consumer"
    weekly = "consumer"
    mix = "consumer"

    def __init__(self, spec: Population, world: World, seed: int, sink: Sink) -> None:
        self.spec = spec
        self.world = world
        self.name = spec.label
        self.label = "legit"
        self.campaign = None
        self.rng, self.nrng = rngs(seed, "population", self.name)
        self.emitter = Emitter(sink, world.end_ms, random.Random(self.rng.getrandbits(64)), spec.errors)
        self.model_names = sorted(spec.models)
        self.model_cum = list(itertools.accumulate(spec.models[m] for m in self.model_names))
        self.accounts = []
        self._build()
        self._hours = (world.end_ms - world.start_ms) / HOUR_MS
        self.tz = np.array([a.tz for a in self.accounts], dtype=np.float64)
        self.created = np.array([a.created_ms for a in self.accounts], dtype=np.int64)
        self.rates = self._rates()

    # -- accounts ---------------------------------------------------------
    def _build(self) -> None:
        raise NotImplementedError

    def _gateway(self, rng: random.Random) -> int:
        r = rng.random()
        share = self.spec.epoch_ms_share
        return GATEWAY_EPOCH if r < share else (GATEWAY_OFFSET if r < share + 0.01 else GATEWAY_ISO)

    def _account(self, rng: random.Random, **kw: Any) -> Account:
        category = kw.pop("category", None) or _weighted(rng, self.spec.categories)
        acct = Account(
            id=rand_id(rng, "acct_"),
            category=category,
            verification=kw.pop("verification", None) or verification_for(rng, category),
            group=self.name,
            label="legit",
            campaign=None,
            client=kw.pop("client", None) or pick_client(rng, self.mix, self.spec.anthropic_share),
            keys=tuple(rand_id(rng, "key_", 16) for _ in range(1 + (rng.random() < 0.25) + (rng.random() < 0.05))),
            gateway=self._gateway(rng),
            **kw,
        )
        self.accounts.append(acct)
        return acct

    def _created(self, rng: random.Random, new_share: float = 0.0) -> int:
        w = self.world
        if rng.random() < new_share:
            return w.start_ms + int(rng.random() * (w.end_ms - w.start_ms) * 0.8)
        return w.start_ms - account_age_ms(rng)

    # -- volume -----------------------------------------------------------
    def mean_session_len(self) -> float:
        """Mean exchanges per session (to turn the exchange target into session rates)."""
        return 1.0

    def _rates(self) -> np.ndarray:
        n = len(self.accounts)
        sessions_total = self.spec.exchanges / max(self.mean_session_len(), 1e-9)
        w = volume_weights(self.nrng, n, self.spec.volume_sigma)
        return sessions_total * w / max(self._hours, 1e-9)

    def _rhythm(self, t: int) -> np.ndarray:
        return rhythm(self.daily, self.weekly, t, self.tz)  # type: ignore[return-value]

    def run_hour(self, hour: int) -> None:
        w = self.world
        t = w.start_ms + hour * HOUR_MS
        frac = min(1.0, (w.end_ms - t) / HOUR_MS)
        lam = self.rates * self._rhythm(t + HOUR_MS // 2) * frac
        lam[self.created > t] = 0.0
        idx, starts = session_starts(self.nrng, lam, t)
        for i, s in zip(idx.tolist(), starts.tolist()):
            if s < w.end_ms:
                self.session(self.accounts[i], s)

    def session(self, acct: Account, ts: int) -> None:
        """Generate one session of ``acct`` starting at ``ts``."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------
    def _model(self, ts: int) -> str:
        return self.world.models.pick(self.rng, self.model_names, self.model_cum, ts)

    def _thinking(self) -> int | None:
        if self.rng.random() < self.spec.thinking_share:
            return self.rng.choices(THINKING_BUDGETS, cum_weights=THINKING_CUM)[0]
        return None

    def _via(self, ip: str, ts: int) -> sessions.Via:
        model = self._model(ts)
        return sessions.Via(ip=lambda: ip, model=lambda _t: model)


class Individuals(LegitPopulation):
    """People chatting from home (ShareGPT / Arena-Hard conversations, some tool use)."""

    spec: IndividualPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people: People = w.people
        countries = [people.country(rng, spec.countries) for _ in range(spec.accounts)]
        homes = self._home_ips(countries)
        self.mobile = {c: w.net.residential(self.nrng, c, 200) for c in sorted(set(countries))}
        for i, country in enumerate(countries):
            category = _weighted(rng, spec.categories)
            if category in ("startup", "enterprise") and rng.random() < 0.6:
                domain = people.company_domain(rng)
            else:
                domain = people.webmail(rng, country)
            local = people.person_local(rng) if rng.random() < 0.85 else f"user{rng.randint(100, 99999)}"
            ips = homes[i]
            if spec.ipv6_share and rng.random() < spec.ipv6_share:
                ips = [w.net.residential_v6(rng, country), *ips]
            self._account(
                rng,
                category=category,
                created_ms=self._created(rng, spec.new_account_share),
                email_domain=domain,
                email_local=local,
                country=country,
                payment_fp=payment_fp(rng) if rng.random() < 0.9 else None,
                signup_ip=ips[0],
                tz=people.tz(rng, country),
                org_id=rand_id(rng, "org_", 12) if rng.random() < 0.2 else None,
                ips=ips,
            )
        self.tool_share = spec.tool_share if w.legit_tools else 0.0
        # some API users pin a generic system prompt in their app
        self.system = {a.id: w.phrases.harvest_systems.pick(rng) for a in self.accounts if rng.random() < 0.2}
        scratch = random.Random(0)
        self._chat_len = float(np.mean([len(self._turns(scratch)) for _ in range(3000)]))

    def _home_ips(self, countries: list[str]) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in countries]
        for c in sorted(set(countries)):
            idx = [i for i, x in enumerate(countries) if x == c]
            pool = self.world.net.residential(self.nrng, c, 2 * len(idx))
            for j, i in enumerate(idx):
                out[i] = [pool[2 * j]] + ([pool[2 * j + 1]] if self.rng.random() < 0.3 else [])
        return out

    def mean_session_len(self) -> float:
        return self._chat_len * (1 - self.tool_share) + 1.8 * self.tool_share

    def _turns(self, rng: random.Random) -> list[str]:
        w, spec = self.world, self.spec
        turns = sessions.pick_turns(rng, rng.choice(w.legit_chat).turns, spec.max_turns)
        turns[0] = sessions.with_aside(rng, turns[0], w.phrases.cot_asides, spec.cot_aside_share)
        if rng.random() < 0.08:
            turns.append(w.phrases.followups.pick(rng))
        if len(turns) > 1 and rng.random() < spec.cot_aside_share:
            turns.insert(1, w.phrases.cot_asides.pick(rng))
        return turns

    def _session_ip(self, acct: Account) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return rng.choice(self.mobile[acct.country])
        return acct.ips[0] if rng.random() < 0.7 else rng.choice(acct.ips)

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        via = self._via(self._session_ip(acct), ts)
        thinking = self._thinking()
        if self.tool_share and rng.random() < self.tool_share:
            p = rng.choice(w.legit_tools)
            sessions.tool_call(w, self.emitter, rng, acct, ts, p.turns[0], list(p.tools), via,
                               system=p.system or self.system.get(acct.id),
                               thinking=thinking, complete=rng.random() < 0.8)
            return
        sessions.chat(w, self.emitter, rng, acct, ts, self._turns(rng), via, system=self.system.get(acct.id),
                      thinking=thinking,
                      max_tokens=rng.choice((1024, 2048, 4096, 8192)) + (thinking or 0))


class VpnUsers(Individuals):
    """Individuals behind commercial VPN exits; many users share one exit."""

    spec: VpnPopulation

    def _home_ips(self, countries: list[str]) -> list[list[str]]:
        rng = self.rng
        exits = self.world.net.vpn(self.nrng, self.spec.exits)
        popularity = [1.0 / (r + 1) ** 0.8 for r in range(len(exits))]
        return [rng.choices(exits, weights=popularity, k=rng.randint(1, 3)) for _ in countries]

    def _session_ip(self, acct: Account) -> str:
        return self.rng.choice(acct.ips)


class Students(LegitPopulation):
    """Students behind one university NAT asking homework questions."""

    daily = "student"
    weekly = "student"
    mix = "student"
    spec: StudentsPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        uni = people.university(rng, spec.university)
        self.university = uni
        self.nat = w.net.university(self.nrng, uni["cidr"], spec.nat_ips)
        homes = w.net.residential(self.nrng, uni["country"], spec.accounts)
        tz = people.tz(random.Random(0), uni["country"])
        semester = w.start_ms - int(rng.uniform(20, 100) * DAY_MS)
        for i in range(spec.accounts):
            r = rng.random()
            if r < 0.4:
                local = f"{rng.choice('suae')}{rng.randint(1_000_000, 9_999_999)}"
            elif r < 0.7:
                local = f"{rng.choice(people.first)[0]}{rng.choice(people.last)}{rng.randint(20, 29)}"
            else:
                local = people.person_local(rng)
            created = (
                semester + int(rng.expovariate(1 / (6 * DAY_MS)))
                if rng.random() < 0.75
                else w.start_ms - account_age_ms(rng, 100, 900)
            )
            self._account(
                rng,
                created_ms=min(created, w.start_ms - HOUR_MS),
                email_domain=uni["students"],
                email_local=local,
                country=uni["country"],
                payment_fp=payment_fp(rng) if rng.random() < 0.4 else None,
                signup_ip=rng.choice(self.nat) if rng.random() < 0.6 else homes[i],
                tz=tz,
                ips=[homes[i]],
            )
        pool = w.distill("reasoning") + w.distill("coding")
        weeks = int(w.scenario.duration_hours // 168) + 2
        self.homework = [rng.sample(pool, min(spec.homework_size, len(pool))) for _ in range(weeks)]
        self.pool = pool

    def mean_session_len(self) -> float:
        return 1 + self.spec.followup_share * 1.5

    def session(self, acct: Account, ts: int) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        week = (ts - w.start_ms) // (7 * DAY_MS)
        p: Prompt = rng.choice(self.homework[week]) if rng.random() < 0.7 else rng.choice(self.pool)
        text = p.turns[0]
        prefix = w.phrases.student_prefixes.pick(rng)
        suffix = w.phrases.student_suffixes.pick(rng) if rng.random() < spec.show_work_share else ""
        turns = [prefix + text + suffix]
        if rng.random() < spec.followup_share:
            turns += [w.phrases.student_followups.pick(rng) for _ in range(rng.randint(1, 2))]
        ip = acct.ips[0] if rng.random() < spec.home_share else rng.choice(self.nat)
        sessions.chat(w, self.emitter, rng, acct, ts, turns, self._via(ip, ts), thinking=self._thinking(),
                      capability=p.capability, gap_s=90.0)


class AgenticDevs(LegitPopulation):
    """Developers running coding agents: long tool loops in working hours."""

    daily = "work"
    weekly = "work"
    mix = "agent"
    spec: AgenticDevPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        company: dict[str, Any] | None = None
        left = 0
        homes_country: list[str] = [people.country(rng, spec.countries) for _ in range(spec.accounts)]
        pools = {c: iter(w.net.residential(self.nrng, c, 2 * homes_country.count(c) + 2)) for c in sorted(set(homes_country))}
        core = [t for t in w.agent_tools if t["name"] not in ("python", "web_search")]
        self.tools: dict[str, list[dict[str, Any]]] = {}
        self.system: dict[str, str] = {}
        self.budget: dict[str, int] = {}
        for country in homes_country:
            category = _weighted(rng, spec.categories)
            org = None
            if category in ("startup", "enterprise"):
                if left <= 0 or company is None:
                    left = rng.randint(1, 8)
                    company = {"domain": people.company_domain(rng), "org": rand_id(rng, "org_", 12),
                               "pf": payment_fp(rng), "office": next(pools[country])}
                left -= 1
                org = company
            home = next(pools[country])
            ips = [org["office"], home] if org else [home]
            if rng.random() < 0.1:
                ips.append(w.net.cloud(self.nrng, 1)[0])
            acct = self._account(
                rng,
                category=category,
                created_ms=self._created(rng),
                email_domain=org["domain"] if org else people.webmail(rng, country),
                email_local=people.person_local(rng),
                country=country,
                payment_fp=org["pf"] if org else payment_fp(rng),
                signup_ip=ips[0],
                tz=people.tz(rng, country),
                org_id=org["org"] if org else None,
                ips=ips,
            )
            extra = [t for t in w.agent_tools if t["name"] == "web_search"] if rng.random() < 0.3 else []
            self.tools[acct.id] = rng.sample(core, rng.randint(min(5, len(core)), len(core))) + extra
            self.system[acct.id] = w.phrases.agent_systems.pick(rng)
            self.budget[acct.id] = rng.choice((4000, 8000, 10_000, 16_000, 31_999))
        steps = [self._steps(random.Random(i)) for i in range(500)]
        self._mean = float(np.mean(steps))

    def _steps(self, rng: random.Random) -> int:
        s = int(rng.lognormvariate(2.5, 0.6))
        return max(self.spec.min_steps, min(self.spec.max_steps, s))

    def mean_session_len(self) -> float:
        return self._mean

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        if rng.random() < 0.8:
            task = w.phrases.fill_slots(w.phrases.agent_tasks.pick(rng), rng)
        else:
            task = rng.choice(w.legit_coding).turns[0]
        thinking = self.budget[acct.id] if rng.random() < self.spec.thinking_share else None
        ip = acct.ips[0] if rng.random() < 0.7 else rng.choice(acct.ips)
        system = w.phrases.fill_slots(self.system[acct.id], rng)
        sessions.agent(w, self.emitter, rng, acct, ts, task, system, self.tools[acct.id], self._via(ip, ts),
                       steps=self._steps(rng), window=self.spec.history_window, thinking=thinking,
                       max_tokens=(thinking or 0) + rng.choice((8192, 16_384, 32_000)))


class EnterpriseBatch(LegitPopulation):
    """Batch jobs: one template per account, huge volume, cloud NAT addresses."""

    mix = "server"
    spec: EnterprisePopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        self.template: dict[str, dict[str, Any]] = {}
        nightly: list[bool] = []
        i = 0
        while i < spec.accounts:
            size = min(rng.randint(1, spec.accounts_per_org), spec.accounts - i)
            country = people.country(rng, spec.countries)
            category = _weighted(rng, spec.categories)
            domain, org, pf = people.company_domain(rng), rand_id(rng, "org_", 12), payment_fp(rng)
            provider = w.net.intel.all_cloud()[int(self.nrng.integers(0, len(w.net.intel.cloud)))]
            nat = w.net.cloud(self.nrng, rng.randint(1, 4), provider)
            for _ in range(size):
                acct = self._account(
                    rng,
                    category=category,
                    verification="business" if rng.random() < 0.85 else "email",
                    created_ms=w.start_ms - account_age_ms(rng, 30, 1100),
                    email_domain=domain,
                    email_local=rng.choice(("api", "ml-ops", "data", "platform", "ai", "eng", "batch")) + (
                        f"-{rng.randint(1, 9)}" if rng.random() < 0.4 else ""),
                    country=country,
                    payment_fp=pf,
                    signup_ip=nat[0],
                    tz=people.tz(rng, country),
                    org_id=org,
                    ips=nat,
                )
                tpl = dict(rng.choice(w.phrases.enterprise_templates))
                tpl["system"] = tpl["system"].replace("{lang}", rng.choice(w.phrases.enterprise_langs))
                tpl["max_tokens"] = rng.choice((256, 512, 1024))
                self.template[acct.id] = tpl
                nightly.append(rng.random() < spec.nightly_share)
                i += 1
        self.nightly = np.array(nightly, dtype=bool)

    def _rhythm(self, t: int) -> np.ndarray:
        night = rhythm("nightly", "nightly", t, self.tz)
        day = rhythm("business", "business", t, self.tz)
        return np.where(self.nightly, night, day)  # type: ignore[arg-type]

    def session(self, acct: Account, ts: int) -> None:
        rng, w = self.rng, self.world
        tpl = self.template[acct.id]
        doc = w.phrases.documents[tpl["doc"]].pick(rng)
        doc = doc.replace("{num}", str(rng.randint(1000, 99999))).replace("{num1}", str(rng.randint(1, 9))).replace(
            "{num2}", str(rng.randint(0, 9)))
        req = Req(self._model(ts), [{"role": "user", "content": tpl["user"].replace("{doc}", doc)}], tpl["system"],
                  max_tokens=tpl["max_tokens"], temperature=0.0)
        resp = Resp(w.responder.enterprise(tpl["output"], doc, rng))
        self.emitter.emit(acct, ts, req, resp, rng.choice(acct.ips))


class BenchmarkEvals(LegitPopulation):
    """Researchers running one benchmark a few times over a few hours, then stopping."""

    mix = "research"
    spec: BenchmarkPopulation

    def _build(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        people = w.people
        lab: dict[str, Any] | None = None
        for i in range(spec.accounts):
            if i % spec.lab_size == 0 or lab is None:
                if rng.random() < 0.7:
                    uni = people.university(rng)
                    domain, country, cidr = uni["domain"], uni["country"], uni["cidr"]
                else:
                    domain, country, cidr = people.company_domain(rng), people.country(rng, spec.countries), None
                if cidr is None or rng.random() < spec.cloud_share:
                    ips = w.net.cloud(self.nrng, rng.randint(1, 3))
                else:
                    ips = w.net.university(self.nrng, cidr, rng.randint(1, 3))
                lab = {"domain": domain, "country": country, "ips": ips, "pf": payment_fp(rng)}
            self._account(
                rng,
                created_ms=self._created(rng),
                email_domain=lab["domain"],
                email_local=people.person_local(rng),
                country=lab["country"],
                payment_fp=lab["pf"] if rng.random() < 0.8 else payment_fp(rng),
                signup_ip=lab["ips"][0],
                tz=people.tz(rng, lab["country"]),
                ips=lab["ips"],
            )
        files: dict[str, list[Prompt]] = {}
        distill = w.corpus.select(kind="distill")
        benchmarks = [p for p in distill if p.capability in ("reasoning", "coding", "tool_use")] or distill
        for p in benchmarks:
            files.setdefault(p.file, []).append(p)
        self.files = files
        self._plan_jobs()

    def _plan_jobs(self) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        vols = volume_weights(self.nrng, len(self.accounts), self.spec.volume_sigma) * spec.exchanges
        names = sorted(self.files)
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        span = w.end_ms - w.start_ms
        for acct, vol in zip(self.accounts, vols.tolist()):
            n_jobs = 1 if vol < 400 or rng.random() < 0.6 else 2
            for _ in range(n_jobs):
                runs = rng.randint(*spec.runs)
                fname = rng.choice(names)
                items = self.files[fname]
                n = max(5, min(len(items), int(round(vol / (n_jobs * runs)))))
                first = rng.randrange(len(items))
                rpm = rng.uniform(*spec.requests_per_minute)
                length = int(runs * n / rpm * 60_000) + runs * 30 * 60_000
                start = w.start_ms + int(rng.random() * max(span - length, span * 0.1))
                job = {"acct": acct, "items": [items[(first + k) % len(items)] for k in range(n)], "runs": runs,
                       "rpm": rpm, "start": max(start, acct.created_ms)}
                self.jobs.setdefault((job["start"] - w.start_ms) // HOUR_MS, []).append(job)

    def _rates(self) -> np.ndarray:
        return np.zeros(len(self.accounts))

    def run_hour(self, hour: int) -> None:
        for job in self.jobs.get(hour, ()):
            self._job(job)

    def _job(self, job: dict[str, Any]) -> None:
        rng, w, spec = self.rng, self.world, self.spec
        acct: Account = job["acct"]
        cap = job["items"][0].capability
        if cap == "coding":
            wrapper, system = w.phrases.code_wrappers.pick(rng), None
        elif cap == "reasoning":
            wrapper = w.phrases.answer_formats.pick(rng)
            sys_pool = w.phrases.reasoning_systems
            system = rng.choice(sys_pool) if sys_pool and rng.random() < 0.25 else (w.phrases.eval_systems.pick(rng) or None)
        else:
            wrapper, system = "{prompt}", None
        thinking = rng.choice((8000, 16_000, 32_000)) if rng.random() < spec.thinking_share else None
        temperature = rng.choice((0.0, 0.0, 0.6, 0.7, 1.0)) if not thinking else None
        ip = rng.choice(acct.ips)
        ts = job["start"]
        gap = 60_000 / job["rpm"]
        for _ in range(job["runs"]):
            model = self._model(ts)
            via = sessions.Via(ip=lambda: ip, model=lambda _t, m=model: m)
            for p in job["items"]:
                text = wrapper.replace("{prompt}", p.turns[0])
                if cap == "tool_use" and p.tools:
                    sessions.tool_call(w, self.emitter, rng, acct, ts, text, list(p.tools), via, thinking=thinking,
                                       complete=False, temperature=temperature)
                else:
                    req = Req(model, [{"role": "user", "content": text}], system, None, thinking,
                              (thinking or 0) + 4096, temperature)
                    self.emitter.emit(acct, ts, req, sessions.respond(w, rng, p.turns[0], cap, thinking), ip)
                ts += int(rng.expovariate(1 / gap)) + 50
            ts += int(rng.uniform(5, 60) * 60_000)


POPULATIONS: dict[str, type[LegitPopulation]] = {
    "individual": Individuals,
    "vpn_users": VpnUsers,
    "students": Students,
    "agentic_dev": AgenticDevs,
    "enterprise_batch": EnterpriseBatch,
    "benchmark_eval": BenchmarkEvals,
}
"""Generator class of each population kind."""
