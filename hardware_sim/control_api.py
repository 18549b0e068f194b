"""The simulator's control plane: a FastAPI app over a :class:`SimWorld`.

``make_control_app(world)`` builds the app (no import-time state); :class:`ControlServer`
serves it with uvicorn on a background thread. Routes:

=========================================  =================================================
``GET  /status``                           zones, readers (outputs, inputs, counters, floor)
``GET  /tags``                             every catalogued tag with its zone
``POST /tags``                             ``{"item": ID | tag spec…, "zone", "present": [k…]}``
``DELETE /tags/{key}``                     take a tag (UID) or an item's tags out of the field
``POST /tags/clear``                       ``{"zone": optional}``
``POST /walk``                             ``{"items": [...], "reader", "direction", "speed_m_s"}``
``GET  /readers/{name}``                   one reader's status
``POST /readers/{name}/faults``            ``{"kind", "count", "params": {...}}``
``DELETE /readers/{name}/faults``          clear armed faults
``POST /readers/{name}/inputs``            ``{"number": 1, "on": true}``
``POST /readers/{name}/floor/reset``       zero the modelled-floor meter
``GET  /ils``, ``POST /ils/faults``         the demo ILS: ``{"outage", "latency_s",
                                           "drop_connections"}``
``/card/...``                              the virtual card (when the world has one)
``POST /bank/pay``                         ``{"ref", "amount"}``: the simulated bank pays
``GET  /bank``                             the bank's webhook URL and what it sent
=========================================  =================================================
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from hardware_sim.errors import SimError
from hardware_sim.world import SimWorld

log = logging.getLogger("hardware_sim.control_api")


class PlaceRequest(BaseModel):
    zone: str = "pad"
    present: list[int] | None = None
    item: str | None = None
    parts: int | None = None
    part: int | None = None
    isil: str | None = None
    country: str | None = None
    format: str | None = None
    usage: int | None = None
    memory: str | None = None
    uid: str | None = None
    afi: int | None = None
    eas: bool | None = None
    dsfid: int | None = None
    locked: list[int] | None = None
    lock_blocks: int | None = None
    afi_locked: bool | None = None
    eas_locked: bool | None = None
    blocks: int | None = None

    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items()
                if v is not None and k not in ("zone", "present")}


class WalkRequest(BaseModel):
    items: list[str]
    reader: str | None = None
    direction: str = "out"
    speed_m_s: float = Field(1.2, gt=0)


class FaultRequest(BaseModel):
    kind: str
    count: int | None = 1
    params: dict[str, Any] = Field(default_factory=dict)


class InputRequest(BaseModel):
    number: int = Field(ge=1, le=8)
    on: bool = True


class ClearRequest(BaseModel):
    zone: str | None = None


class IlsFaultRequest(BaseModel):
    outage: bool | None = None
    latency_s: float | None = Field(None, ge=0, le=60)
    drop_connections: bool = False
    """Close every open SIP2 connection now (the ILS stays up: clients reconnect)."""


def _bad(exc: SimError) -> HTTPException:
    return HTTPException(status_code=400, detail=str(exc))


def make_control_app(world: SimWorld) -> FastAPI:
    """The control API for ``world``."""
    app = FastAPI(title="smartlib simulator control", version="1")

    @app.get("/status")
    def status() -> dict[str, Any]:
        return world.status()

    @app.get("/tags")
    def tags() -> list[dict[str, Any]]:
        return [{**t.to_spec(), "zone": world.field.zone_of(t.uid)} for t in world.field.catalog()]

    @app.post("/tags", status_code=201)
    def place(req: PlaceRequest) -> dict[str, Any]:
        try:
            placed = world.place(req.spec(), req.zone, req.present)
        except SimError as exc:
            raise _bad(exc) from exc
        return {"zone": req.zone, "tags": [t.to_spec() for t in placed]}

    @app.delete("/tags/{key}")
    def remove(key: str) -> dict[str, Any]:
        try:
            return {"removed": world.remove(key)}
        except SimError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    @app.post("/tags/clear")
    def clear(req: ClearRequest) -> dict[str, Any]:
        try:
            return {"removed": world.field.clear(req.zone)}
        except SimError as exc:
            raise _bad(exc) from exc

    @app.post("/walk", status_code=202)
    def walk(req: WalkRequest) -> dict[str, Any]:
        try:
            return world.walk(req.items, reader=req.reader, direction=req.direction,
                              speed_m_s=req.speed_m_s)
        except SimError as exc:
            raise _bad(exc) from exc

    def reader(name: str) -> Any:
        try:
            return world.reader(name)
        except SimError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from exc

    @app.get("/readers/{name}")
    def reader_status(name: str) -> dict[str, Any]:
        return dict(reader(name).status())

    @app.post("/readers/{name}/faults", status_code=201)
    def add_fault(name: str, req: FaultRequest) -> dict[str, Any]:
        dev = reader(name)
        try:
            dev.inject(req.kind, req.count, **req.params)
        except SimError as exc:
            raise _bad(exc) from exc
        return {"faults": dev.faults.armed()}

    @app.delete("/readers/{name}/faults")
    def clear_faults(name: str) -> dict[str, Any]:
        dev = reader(name)
        dev.faults.clear()
        return {"faults": dev.faults.armed()}

    @app.post("/readers/{name}/inputs")
    def set_input(name: str, req: InputRequest) -> dict[str, Any]:
        dev = reader(name)
        dev.set_input(req.number, req.on)
        return {"inputs": dev.inputs}

    @app.post("/readers/{name}/floor/reset")
    def reset_floor(name: str) -> dict[str, Any]:
        reader(name).floor.reset()
        return {"ok": True}

    def ils() -> Any:
        if world.ils is None:
            raise HTTPException(status_code=404, detail="no demo ILS in this simulator "
                                "(start it with --ils-port)")
        return world.ils

    def ils_faults() -> dict[str, Any]:
        f = ils().faults
        return {"outage": f.outage, "latency_s": f.latency}

    @app.get("/ils")
    def ils_status() -> dict[str, Any]:
        return {"faults": ils_faults(), "counters": dict(ils().counters)}

    @app.post("/ils/faults")
    def ils_set_faults(req: IlsFaultRequest) -> dict[str, Any]:
        server = ils()
        if req.outage is not None:
            server.set_outage(req.outage)
        if req.latency_s is not None:
            server.set_latency(req.latency_s)
        if req.drop_connections:
            server.drop_connections()
        return {"faults": ils_faults()}

    if world.card is not None:
        from hardware_sim.card import card_router

        app.include_router(card_router(world.card))
    if world.bank is not None:
        from hardware_sim.bank import bank_router

        app.include_router(bank_router(world.bank))
    return app


class ControlServer:
    """uvicorn serving the control app on a background thread."""

    def __init__(self, world: SimWorld, host: str = "127.0.0.1", port: int = 7000) -> None:
        config = uvicorn.Config(make_control_app(world), host=host, port=port,
                                log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ControlServer:
        """Start serving; returns once the socket is bound (``port`` 0 picks one).

        Raises:
            SimError: uvicorn did not start within ``timeout``.
        """
        import time

        self._thread = threading.Thread(target=self.server.run, name="sim-control", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SimError(f"control API did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        if self.port == 0 and self.server.servers:
            self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
