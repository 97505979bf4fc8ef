"""Shared pydantic machinery: strict keys, unit-carrying field types.

``StrictModel`` rejects unknown keys and lists the valid ones (all unknown keys of a mapping
at once). The ``Annotated`` unit types accept SI numbers or human strings and store SI floats.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from archsim import units


class StrictModel(BaseModel):
    """Frozen model that rejects unknown keys, naming the valid ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        valid = set()
        for name, info in cls.model_fields.items():
            valid.add(name)
            if info.alias:
                valid.add(info.alias)
        unknown = [k for k in data if k not in valid]
        if unknown:
            listing = ", ".join(sorted(valid))
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "unknown_key", "unknown key '{key}'; valid keys: {valid}", {"key": str(k), "valid": listing}
                    ),
                    loc=(),
                    input=data,
                )
                for k in unknown
            ]
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


def _unit(q: units.Quantity, *, positive: bool = False, nonnegative: bool = True) -> BeforeValidator:
    def parse(value: Any) -> float:
        number = q.parse(value)
        if positive and number <= 0:
            raise ValueError(f"must be > 0, got {value!r}")
        if nonnegative and number < 0:
            raise ValueError(f"must be >= 0, got {value!r}")
        return number

    return BeforeValidator(parse)


# Positive quantities (sizes, bandwidths, clocks, rates must be > 0).
Bytes = Annotated[float, _unit(units.BYTES, positive=True)]
BytesPerSecond = Annotated[float, _unit(units.BANDWIDTH, positive=True)]
Hertz = Annotated[float, _unit(units.FREQUENCY, positive=True)]
FlopsPerSecond = Annotated[float, _unit(units.RATE, positive=True)]
Seconds = Annotated[float, _unit(units.TIME)]
Watts = Annotated[float, _unit(units.POWER)]
JoulesPerByte = Annotated[float, _unit(units.ENERGY_PER_BYTE)]
JoulesPerOp = Annotated[float, _unit(units.ENERGY_PER_OP)]
SquareMeters = Annotated[float, _unit(units.AREA, positive=True)]
Usd = Annotated[float, _unit(units.MONEY)]
UsdPerHour = Annotated[float, _unit(units.MONEY_RATE)]

PositiveInt = Annotated[int, Field(gt=0, strict=False)]
NonNegativeInt = Annotated[int, Field(ge=0)]

DTYPE_BYTES: dict[str, float] = {
    "fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5, "int16": 2,
    "int32": 4,
}
