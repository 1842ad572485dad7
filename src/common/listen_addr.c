/*
 * listen_addr.c
 *		"host:port" or "[v6]:port" to a socket address.
 *
 * The host is a name or a numeric address (brackets around an IPv6 one);
 * the port is numeric.  Shared by the gateway and the relay.
 */
#include "listen_addr.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

/*
 * Resolves listen into addr (and its length into len, when not NULL).
 * False after a message naming program and flag when listen is not
 * host:port or does not resolve.
 */
bool
listen_addr_resolve(const char *program, const char *flag, const char *listen,
					struct sockaddr_storage *addr, socklen_t *len)
{
	char		host[LISTEN_ADDR_MAX + 1];
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t		hlen;
	struct addrinfo hints,
			   *found = NULL;
	int			rc;

	if (colon == NULL || colon[1] == '\0')
		goto bad;
	hlen = (size_t) (colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']')
		h++, hlen -= 2;
	if (hlen == 0 || hlen > LISTEN_ADDR_MAX)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &found);
	if (rc != 0 || found == NULL || found->ai_addrlen > sizeof(*addr))
	{
		fprintf(stderr, "%s: cannot listen on %s (%s): %s\n", program, listen, flag,
				rc != 0 ? gai_strerror(rc) : "no address");
		if (found)
			freeaddrinfo(found);
		return false;
	}
	memcpy(addr, found->ai_addr, found->ai_addrlen);
	if (len != NULL)
		*len = found->ai_addrlen;
	freeaddrinfo(found);
	return true;

bad:
	fprintf(stderr, "%s: %s must be host:port, got \"%s\"\n", program, flag, listen);
	return false;
}
