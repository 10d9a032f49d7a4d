/* SPDX-License-Identifier: MIT */
#pragma once

#include "vmcompose/pipeline.h"

int stage_disk(BuildContext *ctx);
int stage_outputs(BuildContext *ctx);
