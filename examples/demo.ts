import { createRateLimiter, fixedWindow, slidingWindow, tokenBucket } from '@floodgate/core'

const policies = {
  'fixed-window': fixedWindow({ limit: 5, window: '10 s' }),
  'sliding-window': slidingWindow({ limit: 5, window: '10 s' }),
  'token-bucket': tokenBucket({ capacity: 5, refillRate: 1, interval: '2 s' }),
}
for (const [name, policy] of Object.entries(policies)) {
  const limiter = createRateLimiter({ policies: policy })
  const rows: string[] = []
  for (let i = 1; i <= 8; i++) {
    const d = await limiter.limit('demo-client')
    rows.push(
      `  #${i} ${d.allowed ? 'admitted' : 'limited '} remaining=${d.remaining} retryAfterMs=${d.retryAfterMs}`,
    )
  }
  console.log(`${name}:\n${rows.join('\n')}`)
  await limiter.close()
}
