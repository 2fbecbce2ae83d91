import { expect, test } from 'bun:test'
import * as errors from '../src/errors'
import * as index from '../src'

test('every public error is exported from the package index', () => {
  const classes = Object.entries(errors).filter(([, value]) => typeof value === 'function')
  expect(classes.length).toBeGreaterThan(0)
  for (const [name, value] of classes) expect(index).toHaveProperty(name, value)
})
