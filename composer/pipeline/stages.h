/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/pipeline.h"

int stage_resolve(BuildContext *ctx);
int stage_fetch(BuildContext *ctx);
int stage_disk(BuildContext *ctx);
int stage_outputs(BuildContext *ctx);
