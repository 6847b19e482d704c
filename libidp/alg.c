/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names of key types and JWS algorithms, as they appear in configuration
 * files and on the wire.
 */
#include <errno.h>
#include <string.h>

#include <idp/jwk.h>

static const struct {
	enum idp_key_type	 type;
	const char		*name;
	enum idp_alg		 alg;
} key_types[] = {
	{ IDP_KEY_EC_P256,	"ec-p256",	IDP_ALG_ES256 },
	{ IDP_KEY_EC_P384,	"ec-p384",	IDP_ALG_ES384 },
	{ IDP_KEY_RSA_2048,	"rsa-2048",	IDP_ALG_RS256 },
	{ IDP_KEY_RSA_3072,	"rsa-3072",	IDP_ALG_RS256 },
	{ IDP_KEY_ED25519,	"ed25519",	IDP_ALG_EDDSA },
};

static const char *const alg_names[] = {
	[IDP_ALG_ES256] = "ES256",
	[IDP_ALG_ES384] = "ES384",
	[IDP_ALG_RS256] = "RS256",
	[IDP_ALG_PS256] = "PS256",
	[IDP_ALG_EDDSA] = "EdDSA",
};

int
idp_key_type_parse(const char *s, enum idp_key_type *ret)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(s, key_types[i].name) == 0) {
			*ret = key_types[i].type;
			return 0;
		}
	return -EINVAL;
}

const char *
idp_key_type_name(enum idp_key_type t)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].type == t)
			return key_types[i].name;
	return NULL;
}

enum idp_alg
idp_key_type_default_alg(enum idp_key_type t)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (key_types[i].type == t)
			return key_types[i].alg;
	return IDP_ALG_NONE;
}

int
idp_alg_parse(const char *s, enum idp_alg *ret)
{
	size_t i;

	for (i = 1; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i] != NULL && strcmp(s, alg_names[i]) == 0) {
			*ret = (enum idp_alg)i;
			return 0;
		}
	return -EINVAL;
}

const char *
idp_alg_name(enum idp_alg a)
{
	if ((size_t)a >= sizeof(alg_names) / sizeof(alg_names[0]) || a == IDP_ALG_NONE)
		return NULL;
	return alg_names[a];
}
